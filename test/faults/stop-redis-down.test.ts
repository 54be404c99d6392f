/**
 * Fault injection: stop a worker while Redis is down (idle and busy, SimpleWorker and Worker, one
 * signal and two). It must exit in bounded time whatever Redis does — once Redis has not answered for
 * --shutdown-timeout seconds after one signal, within 2 s of a second — and, with Redis back (same
 * port, AOF on), a fresh worker's maintenance recovers what it could not record: nothing is lost.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { Queue, connect, epochSeconds } from '../../lib/index.js';
import { freePort } from '../helpers/cli.js';
import { waitFor } from '../helpers/redis.js';
import { task } from '../helpers/worker.js';
import { Workers, alive, waitExit } from './spawn.js';
import { tempDir } from '../helpers/checkout.js';

let port = 0;
let dataDir = '';
let cwd = '';
let proc: ChildProcess | null = null;
let redis: Redis;
const url = (): string => `redis://127.0.0.1:${port}`;
const workers = new Workers(url, () => cwd, 'stopdown');

async function startServer(): Promise<void> {
  const p = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--dir', dataDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  p.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  proc = p;
  await waitFor(() => out.includes('Ready to accept connections') || p.exitCode !== null, 'redis-server to start', 10_000);
  assert.equal(p.exitCode, null, `redis-server started on ${port}: ${out}`);
}

async function stopServer(): Promise<void> {
  const p = proc;
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill('SIGTERM');
  await exited;
}

before(async () => {
  port = await freePort();
  dataDir = tempDir('stopdown-redis');
  cwd = tempDir('stopdown');
  await startServer();
  redis = connect(url());
  redis.on('error', () => {});
});

after(async () => {
  await workers.cleanup();
  redis?.disconnect();
  await stopServer();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(cwd, { recursive: true, force: true });
});

describe('a stop while Redis is down is bounded, and loses nothing', { concurrency: 1 }, () => {
  const cases = [
    { label: 'idle SimpleWorker, one signal', args: ['-w', 'rq.SimpleWorker'], busy: false, signals: ['SIGTERM'] },
    { label: 'busy Worker, one signal', args: [], busy: true, signals: ['SIGTERM'] },
    { label: 'busy SimpleWorker, two signals', args: ['-w', 'rq.SimpleWorker'], busy: true, signals: ['SIGTERM', 'SIGINT'] },
  ] as const;
  for (const c of cases) {
    it(c.label, async () => {
      await redis.flushall();
      const q = `q${cases.indexOf(c)}`;
      const queue = new Queue(q, { connection: redis });
      const job = c.busy ? await queue.enqueue(task('sleepForeverUnref')) : null;
      const waiting = await queue.enqueueCall({ func: task('add'), args: [1, 2], jobId: `${q}-after` });
      const w = workers.spawn([...c.args, '--shutdown-timeout', '3', '--job-monitoring-interval', '1', q], 60_000);
      if (job) await waitFor(async () => (await redis.hget(job.key, 'status')) === 'started', 'the job to start', 20_000);
      else await waitFor(async () => (await redis.hget(`rq:job:${waiting.id}`, 'status')) === 'finished', 'the first job to run', 20_000);
      if (!job) await waitFor(async () => (await redis.hget(`rq:worker:${w.name}`, 'state')) === 'idle', 'the worker to be idle', 20_000);
      workers.noteHorses(w);

      await stopServer();
      const t0 = Date.now();
      w.child.kill(c.signals[0]);
      if (c.signals.length === 2) {
        await waitFor(() => w.output().includes('Warm shut down requested'), 'the warm shutdown line', 10_000);
        const t1 = Date.now();
        w.child.kill(c.signals[1]);
        await waitExit(workers, w, 15_000);
        assert.ok(Date.now() - t1 < 2_000 + 1_500, `exited ${Date.now() - t1} ms after the second signal: ${w.output()}`);
      } else {
        const exit = await waitExit(workers, w, 30_000);
        assert.equal(exit.code, 1, w.output());
        assert.match(w.output(), /has not answered for 3 s since the stop was requested: exiting without recording the rest/);
        assert.ok(Date.now() - t0 < 3_000 + 5_000, `exited ${Date.now() - t0} ms after the signal`);
      }
      await waitFor(() => workers.liveHorses().length === 0 || !workers.liveHorses().some(alive), 'no horse left', 10_000);

      // Redis is back: what the worker could not record, a fresh worker's maintenance recovers.
      await startServer();
      await waitFor(async () => (await redis.ping().catch(() => null)) === 'PONG', 'the test client to reconnect', 10_000);
      if (job) {
        const wip = await redis.zrange(`rq:wip:${q}`, '0', '-1');
        for (const id of wip) await redis.zadd(`rq:wip:${q}`, epochSeconds() - 10, id);
        await redis.del(`rq:clean_registries:${q}`);
      }
      const fresh = workers.spawn(['-b', '-w', 'rq.SimpleWorker', q], 30_000);
      assert.equal((await waitExit(workers, fresh, 30_000)).code, 0, fresh.output());
      if (job) assert.equal(await redis.hget(job.key, 'status'), 'failed', 'the abandoned job failed with a reason');
      assert.equal(await redis.hget(`rq:job:${waiting.id}`, 'status'), 'finished');
      assert.equal(await redis.llen(`rq:queue:${q}`), 0, 'nothing left queued');
      assert.equal(await redis.llen(`rq:queue:${q}:intermediate`), 0, 'nothing left between queue and registry');
      assert.equal(await redis.zcard(`rq:wip:${q}`), 0, 'nothing left started');
    });
  }
});
