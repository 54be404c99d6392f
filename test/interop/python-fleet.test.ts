/**
 * A mixed fleet on one throwaway redis-server: a Python worker with its scheduler and a Node worker
 * with its scheduler on the same queue never double-enqueue a scheduled job; python-rq's
 * send_stop_job_command stops a job on a Node worker; kill-horse fails only the current job.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { connect, Job, Queue, sendKillHorseCommand } from '../../lib/index.js';
import { PYTHON, PYTHON_REASON, runPython } from '../helpers/python.js';
import { startRedis, waitFor, type RedisServer } from '../helpers/redis.js';
import { repoRoot } from '../helpers/worker.js';
import { tempDir } from '../helpers/checkout.js';

const bin = join(repoRoot, 'dist/lib/cli/main.js');

// The same dotted path on both sides: `fleet.record` appends (value, language) to the list `runs`.
const FLEET_TS = `
import { getCurrentJob } from ${JSON.stringify(join(repoRoot, 'dist/lib/index.js'))};
export async function record(value: string): Promise<void> {
  await getCurrentJob()!.connection.rpush('runs', value + ':node');
}
export function sleepForever(): Promise<never> {
  return new Promise(() => setInterval(() => {}, 1000));
}
`;
const FLEET_PY = `
from rq import get_current_job
def record(value):
    get_current_job().connection.rpush('runs', value + ':python')
`;

let server: RedisServer;
let redis: Redis;
let cwd = '';
const children = new Set<ChildProcess>();

function start(cmd: string, args: string[]): ChildProcess {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('RQ_') || k.startsWith('REDIS_')) delete env[k];
  const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  child.stderr?.resume();
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  child.kill('SIGTERM');
  const hard = setTimeout(() => child.pid && process.kill(-child.pid, 'SIGKILL'), 10_000);
  return exited.finally(() => clearTimeout(hard));
}

describe('mixed Python/Node fleet', { skip: PYTHON ? false : PYTHON_REASON }, () => {
  before(async () => {
    server = await startRedis();
    redis = connect(server.url);
    cwd = tempDir('fleet');
    writeFileSync(join(cwd, 'fleet.ts'), FLEET_TS);
    writeFileSync(join(cwd, 'fleet.py'), FLEET_PY);
  });

  after(async () => {
    await Promise.all([...children].map(stop));
    redis.disconnect();
    await server.stop();
    rmSync(cwd, { recursive: true, force: true });
  });

  it('a Python scheduler and a Node scheduler on one queue run each scheduled job exactly once', async () => {
    await redis.flushdb();
    const q = new Queue('fleet', { connection: redis });
    const due = new Date(Date.now() + 1500);
    const jobs = [];
    for (let i = 0; i < 40; i++) jobs.push(await q.enqueueAt(due, 'fleet.record', `j${i}`));
    const py = start(PYTHON!, ['-m', 'rq.cli', 'worker', '-u', server.url, '-S', 'rq.serializers.JSONSerializer', '--with-scheduler', '-n', 'py-fleet', 'fleet']);
    const node = start(process.execPath, [bin, 'worker', '-u', server.url, '--with-scheduler', '-n', 'node-fleet', 'fleet']);
    try {
      await waitFor(async () => (await redis.llen('runs')) >= 40, 'all 40 scheduled jobs to run', 30_000, 50);
      const lock = await redis.get('rq:scheduler-lock:fleet');
      assert.ok(lock === String(py.pid) || lock === String(node.pid), `one of the two holds rq's lock (${lock})`);
      // Settled: nothing left to schedule or run, both workers idle. A job enqueued twice would have
      // been run twice by now (it would sit in the queue or a worker would be busy with it).
      await waitFor(
        async () =>
          (await redis.zcard('rq:scheduled:fleet')) === 0 &&
          (await redis.llen('rq:queue:fleet')) === 0 &&
          (await redis.hget('rq:worker:py-fleet', 'state')) === 'idle' &&
          (await redis.hget('rq:worker:node-fleet', 'state')) === 'idle',
        'the fleet to settle',
        15_000,
        50,
      );
      const runs = await redis.lrange('runs', 0, -1);
      const values = runs.map((r) => r.split(':')[0]);
      assert.equal(runs.length, 40, `each job ran once: ${runs.join(' ')}`);
      assert.equal(new Set(values).size, 40);
      for (const job of jobs) assert.equal(await job.getStatus(), 'finished');
    } finally {
      await Promise.all([stop(py), stop(node)]);
    }
  });

  it('`rq enqueue operator.add :2 :3` (ours) is run by a Python worker with the JSON serializer', async () => {
    await redis.flushdb();
    const enq = spawn(process.execPath, [bin, 'enqueue', '-u', server.url, '-q', 'pyq', 'operator.add', ':2', ':3'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    enq.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((ok) => enq.once('exit', ok));
    assert.equal(code, 0, out);
    const id = /with job-id '([^']+)'/.exec(out)?.[1];
    assert.ok(id, out);
    assert.match(out, /^Enqueued operator\.add\(2, 3\) with job-id/);
    const py = start(PYTHON!, ['-m', 'rq.cli', 'worker', '-u', server.url, '-b', '-S', 'rq.serializers.JSONSerializer', 'pyq']);
    const pyCode = await new Promise<number | null>((ok) => py.once('exit', ok));
    assert.equal(pyCode, 0);
    const job = await Job.fetch(id, { connection: redis });
    assert.equal(job.status, 'finished');
    assert.equal(await job.returnValue(), 5);
  });

  it("python-rq's send_stop_job_command stops a job on a Node worker; kill-horse fails only the current job", async () => {
    await redis.flushdb();
    const q = new Queue('ctl', { connection: redis });
    const first = await q.enqueue('fleet.sleepForever');
    const second = await q.enqueue('fleet.sleepForever');
    const third = await q.enqueue('fleet.record', 'after');
    const node = start(process.execPath, [bin, 'worker', '-u', server.url, '-n', 'node-ctl', 'ctl']);
    try {
      await waitFor(async () => (await first.getStatus()) === 'started', 'the first job to start', 15_000);
      runPython(
        `import os\nfrom redis import Redis\nfrom rq.command import send_stop_job_command\nsend_stop_job_command(Redis(port=int(os.environ['REDIS_PORT'])), ${JSON.stringify(first.id)})`,
        { REDIS_PORT: String(server.port) },
      );
      await waitFor(async () => (await first.getStatus()) === 'stopped', 'the first job to be stopped', 15_000);
      const stopped = await Job.fetch(first.id, { connection: redis });
      assert.match(stopped.excInfo ?? '', /Job stopped by user, work-horse terminated\./);

      await waitFor(async () => (await second.getStatus()) === 'started', 'the second job to start', 15_000);
      await sendKillHorseCommand(redis, 'node-ctl');
      await waitFor(async () => (await second.getStatus()) === 'failed', 'the second job to fail', 15_000);
      const killed = await Job.fetch(second.id, { connection: redis });
      // Killed in the horse, or (the command came while the job was between claim and fork) before it ran.
      assert.match(
        killed.excInfo ?? '',
        /Work-horse terminated unexpectedly; waitpid returned 9 \(signal 9\)|Job killed before it started running: killed by the kill-horse command/,
      );

      await waitFor(async () => (await third.getStatus()) === 'finished', 'the worker to go on with the third job', 15_000);
      assert.deepEqual(await redis.lrange('runs', 0, -1), ['after:node']);
    } finally {
      await stop(node);
    }
  });
});
