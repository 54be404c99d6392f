/**
 * `rq worker-pool` through the real binary, real child processes and real signals: a pool of 3 runs
 * jobs (each once, a scheduled one too), Python's `rq info` (1.13, and 2.10 when vendored) lists its 3 workers, a
 * SIGKILLed worker is replaced, SIGTERM stops and unregisters all of them, and a pool whose workers
 * crash at start gives up with the workers' exit code and why.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { JOBS_TS, cleanEnv, describeRun, distIndex, rqBin, runRq, spawnRq, useCliRedis, waitUntilWaiting, type RqProcess } from '../helpers/cli.js';
import { alive } from '../helpers/processes.js';
import { PYTHON_RQS, pythonEnv, type PythonRq } from '../helpers/python.js';
import { waitFor } from '../helpers/redis.js';

const pools = new Set<RqProcess>();
/** Worker pids seen, killed at the end in case a failure left one behind (they lead their own groups). */
const workerPids = new Set<number>();
const { projects, freshDb } = useCliRedis({
  beforeStop: async () => {
    for (const p of pools) await p.stop('SIGKILL');
    for (const pid of workerPids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  },
});
after(() => {
  for (const pid of workerPids) assert.equal(alive(pid), false, `pool worker ${pid} still running`);
});

/** The registered workers: name -> pid (from their hashes). */
async function registered(redis: Redis): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const key of await redis.smembers('rq:workers')) out.set(key.replace(/^rq:worker:/, ''), Number(await redis.hget(key, 'pid')));
  return out;
}

/** `rq info` of a Python rq: its "N workers" count. */
function pythonWorkerCount(rq: PythonRq, url: string): number {
  const r = spawnSync(rq.python!, ['-m', 'rq.cli', 'info', '-u', url], { encoding: 'utf8', env: pythonEnv(rq), timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const m = /^(\d+) workers,/m.exec(r.stdout);
  assert.ok(m, `no worker count in:\n${r.stdout}`);
  return Number(m[1]);
}

describe('rq worker-pool', () => {
  it('runs 3 workers that take jobs each once, replaces one SIGKILLed, stops all on SIGTERM', async () => {
    const { url, redis, queue } = freshDb();
    const cwd = projects.make({ 'jobs.ts': JOBS_TS });
    const pool = spawnRq(['worker-pool', '-n', '3', '-u', url, '--pid', 'pool.pid'], { cwd, timeoutMs: 180_000 });
    pools.add(pool);
    const first = await waitFor(async () => {
      const w = await registered(redis);
      return w.size === 3 ? w : null;
    }, '3 pool workers registered', 60_000);
    for (const [name, pid] of first) {
      // rq 2.x's pool names: uuid4().hex.
      assert.match(name, /^[0-9a-f]{32}$/);
      assert.ok(alive(pid), `worker ${name} pid ${pid}`);
      assert.notEqual(pid, pool.pid);
      workerPids.add(pid);
    }

    assert.equal(readFileSync(join(cwd, 'pool.pid'), 'utf8'), String(pool.pid), '--pid is the pool\'s');

    // As in rq 2.x's pool, the workers run the scheduler: a job scheduled for later runs.
    await queue().enqueueAt(new Date(Date.now() + 1000), 'jobs.record', 'out', 'scheduled');
    const n = 30;
    for (let i = 0; i < n; i++) await queue().enqueue('jobs.record', 'out', String(i));
    await waitFor(async () => (await redis.llen('out')) >= n + 1, `${n} jobs and the scheduled one run`, 60_000);
    const done = await redis.lrange('out', 0, -1);
    assert.deepEqual([...done].sort(), [...Array.from({ length: n }, (_, i) => String(i)), 'scheduled'].sort(), 'each job once');

    for (const rq of PYTHON_RQS) {
      if (rq.python) assert.equal(pythonWorkerCount(rq, url), 3, `python-rq ${rq.label} rq info`);
      else console.log(`# ${rq.reason}`);
    }
    const ours = await runRq(['info', '-u', url], { cwd });
    assert.match(ours.stdout, /^3 workers,/m, describeRun(ours));

    const [victim, victimPid] = [...first][0]!;
    process.kill(victimPid, 'SIGKILL');
    await pool.waitForOutput(`Worker ${victim} (pid ${victimPid}) died (killed by SIGKILL): starting another in 1 s`, 'the pool noticing the death', 30_000);
    const replacement = await waitFor(async () => {
      const w = await registered(redis);
      const fresh = [...w].filter(([name]) => !first.has(name));
      return fresh.length === 1 ? fresh[0] : null;
    }, 'a replacement worker registered', 60_000);
    workerPids.add(replacement[1]);
    assert.ok(alive(replacement[1]));
    const live = [...first.values()].filter((pid) => pid !== victimPid);
    for (const pid of live) assert.ok(alive(pid), `worker ${pid} untouched`);

    const exit = await pool.stop('SIGTERM', 60_000);
    assert.deepEqual(exit, { code: 0, signal: null }, pool.output);
    assert.match(pool.output, /Warm shut down requested \(SIGTERM\): stopping 3 workers/);
    assert.match(pool.output, /All workers stopped, exiting/);
    for (const pid of [...live, replacement[1]]) assert.equal(alive(pid), false, `worker ${pid} exited with the pool`);
    // All but the SIGKILLed one unregistered themselves (its key expires after its TTL, as in rq).
    assert.deepEqual([...(await registered(redis)).keys()], [victim]);
  });

  it('-b: the workers drain the queue, are not replaced, and the pool exits 0', async () => {
    const { url, redis, queue } = freshDb();
    const cwd = projects.make({ 'jobs.ts': JOBS_TS });
    for (let i = 0; i < 6; i++) await queue().enqueue('jobs.record', 'out', String(i));
    const r = await runRq(['worker-pool', '-n', '2', '-b', '-u', url], { cwd, timeoutMs: 120_000 });
    assert.equal(r.code, 0, describeRun(r));
    assert.deepEqual((await redis.lrange('out', 0, -1)).sort(), ['0', '1', '2', '3', '4', '5']);
    assert.equal((r.output.match(/Started worker /g) ?? []).length, 2, describeRun(r));
    assert.equal((r.output.match(/Worker [0-9a-f]{32} finished \(exit code 0\)/g) ?? []).length, 2, describeRun(r));
    assert.equal(await redis.scard('rq:workers'), 0);
  });

  it('workers whose pool is SIGKILLed stop warm and unregister', async () => {
    const { db, url, redis } = freshDb();
    const cwd = projects.make({ 'jobs.ts': JOBS_TS });
    const pool = spawnRq(['worker-pool', '-n', '2', '-u', url], { cwd, timeoutMs: 120_000 });
    pools.add(pool);
    const workers = await waitFor(async () => {
      const w = await registered(redis);
      return w.size === 2 ? w : null;
    }, '2 pool workers registered', 60_000);
    for (const pid of workers.values()) workerPids.add(pid);
    // Past their start: a pool dying while they start or register is provoked by the two tests below.
    await waitUntilWaiting(redis, db, 2);
    assert.deepEqual(await pool.stop('SIGKILL'), { code: null, signal: 'SIGKILL' });
    await waitFor(() => [...workers.values()].every((pid) => !alive(pid)), 'the orphaned workers exit', 30_000);
    assert.equal(await redis.scard('rq:workers'), 0, `they registered their deaths; output:\n${pool.output}`);
  });

  /**
   * A pool worker whose pool dies at a given point of its start: `rq worker` with the pool's environment
   * and an IPC channel to this process, which closes the channel (as the pool's death does) when `when`
   * says so. Resolves once the worker has exited, with its exit and output.
   */
  async function orphan(cwd: string, args: string[], when: (output: () => string) => Promise<void>): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
    const child = spawn(process.execPath, [rqBin, 'worker', ...args], { cwd, env: cleanEnv({ RQ_WORKER_POOL: 'test' }), stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    workerPids.add(child.pid!);
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    // 'exit', not 'close': the pipes may stay open a while after the exit.
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    child.on('message', () => {});
    await when(() => output);
    child.disconnect();
    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([exited, new Promise<null>((r) => (timer = setTimeout(r, 30_000, null)))]);
    clearTimeout(timer);
    if (exit === null) {
      child.kill('SIGKILL');
      assert.fail(`the worker did not exit within 30 s of its pool's death; output:\n${output}`);
    }
    return { ...exit, output };
  }

  it('a worker whose pool died while it was starting stops and unregisters (it does not run on unseen)', async () => {
    const { url, redis } = freshDb();
    const cwd = projects.make({ 'jobs.ts': JOBS_TS });
    // The channel closes before the worker has even loaded: it learns of it only by asking.
    const r = await orphan(cwd, ['-u', url], async () => {});
    assert.deepEqual({ code: r.code, signal: r.signal }, { code: 0, signal: null }, r.output);
    assert.match(r.output, /Warm shut down requested \(SIGTERM\)/, r.output);
    assert.equal(await redis.scard('rq:workers'), 0, r.output);
  });

  it('a worker whose pool dies between its registration and its report to the pool unregisters', async () => {
    const { url, redis } = freshDb();
    // Holds the registration after the hash is written (stage 150, before the report at 200) until the
    // channel is closed: the report then goes to a pool that is gone, every time.
    const gate = `
import { Worker } from ${JSON.stringify(distIndex)};
export class GatedWorker extends Worker {
  constructor(...args: ConstructorParameters<typeof Worker>) {
    super(...args);
    this.hooks.register.tapPromise({ name: 'Gate', stage: 150 }, async () => {
      const until = Date.now() + 30_000;
      while (process.connected && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    });
  }
}
`;
    const cwd = projects.make({ 'jobs.ts': JOBS_TS, 'gated.ts': gate });
    const r = await orphan(cwd, ['-u', url, '-w', 'gated.GatedWorker'], async () => {
      await waitFor(async () => (await redis.scard('rq:workers')) === 1, 'the worker registered', 60_000);
    });
    assert.doesNotMatch(r.output, /ERR_IPC_CHANNEL_CLOSED/, 'the report to a dead pool must not kill the worker');
    assert.deepEqual({ code: r.code, signal: r.signal }, { code: 0, signal: null }, r.output);
    assert.match(r.output, /Registering death/, r.output);
    assert.equal(await redis.scard('rq:workers'), 0, r.output);
  });

  it('gives up on workers that crash at start: says why, exits with their exit code', async () => {
    const { url, redis } = freshDb();
    const cwd = projects.make({
      'jobs.ts': JOBS_TS,
      'broken.ts': "throw new Error('broken.ts cannot be imported: DATABASE_URL is not set');\nexport class Worker {}\n",
    });
    const started = Date.now();
    const r = await runRq(['worker-pool', '-n', '2', '-u', url, '-w', 'broken.Worker'], { cwd, timeoutMs: 120_000 });
    assert.equal(r.code, 2, describeRun(r));
    assert.match(r.stderr, /3 workers in a row exited before they registered \(the last: exit code 2, saying: .*DATABASE_URL is not set.*\): not restarting them/, describeRun(r));
    // 2 at first, 1 or 2 replacements (the other may be starting when the third failure ends the pool).
    const starts = (r.output.match(/Started worker [0-9a-f]{32}/g) ?? []).length;
    assert.ok(starts >= 3 && starts <= 4, `${starts} workers started; ${describeRun(r)}`);
    assert.equal(await redis.scard('rq:workers'), 0);
    console.log(`# crash-at-start pool gave up after ${Date.now() - started} ms`);
  });
});
