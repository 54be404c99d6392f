/**
 * Shutdown and crash semantics of `rq worker` through the real binary, real processes and real
 * signals (rq-wire-protocol.md §3, §4.6, §4.11-§4.13): warm shutdown (idle and busy), cold
 * shutdown, the horse's own process group, the process title, and a SIGKILLed worker's job
 * recovered by the next worker's maintenance.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { Job, Queue, connect, epochSeconds } from '../../lib/index.js';
import { startRedis, waitFor, type RedisServer } from '../helpers/redis.js';
import { alive, killHorse } from '../helpers/processes.js';
import { excText, repoRoot, returnValue, task } from '../helpers/worker.js';
import { tempDir } from '../helpers/checkout.js';

const bin = join(repoRoot, 'dist/lib/cli/main.js');

let server: RedisServer;
let redis: Redis;
let cwd = '';
const running = new Set<ChildProcess>();
/** Horses seen, killed at the end in case a failure left one orphaned (they lead their own groups). */
const horses = new Set<number>();

before(async () => {
  server = await startRedis();
  redis = connect(server.url);
  cwd = tempDir('shutdown');
});

after(async () => {
  for (const child of running) killGroup(child);
  for (const pid of horses) killHorse(pid);
  redis?.disconnect();
  await server?.stop();
  if (cwd) rmSync(cwd, { recursive: true, force: true });
});

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface SpawnedWorker {
  child: ChildProcess;
  pid: number;
  name: string;
  /** Everything the worker wrote to stdout and stderr so far. */
  output(): string;
  exited: Promise<Exit>;
}

/** An environment without RQ_* variables of the caller (they would change the worker's settings). */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('RQ_')) env[k] = v;
  return env;
}

function killGroup(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

let counter = 0;

/**
 * `rq worker -u <url> -n <name> -P <repoRoot> <args...>` from a temp dir (no rq.config.ts applies),
 * in its own process group (detached) so that group signals reach it and nothing else.
 */
function spawnWorker(args: string[]): SpawnedWorker {
  const name = `shutdown-${process.pid}-${++counter}`;
  const child = spawn(process.execPath, [bin, 'worker', '-u', server.url, '-n', name, '-P', repoRoot, ...args], {
    cwd,
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  running.add(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  assert.ok(child.pid, 'the worker process started');
  return { child, pid: child.pid, name, output: () => out, exited };
}

/** The worker's exit within `ms`; on timeout it is SIGKILLed and the test fails with its output. */
async function waitExit(w: SpawnedWorker, ms: number): Promise<Exit & { ms: number }> {
  const t0 = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  const r = await Promise.race([w.exited, timeout]);
  clearTimeout(timer);
  if (r === 'timeout') {
    killGroup(w.child);
    await w.exited;
    assert.fail(`worker ${w.name} did not exit within ${ms} ms; output:\n${w.output()}`);
  }
  return { ...r, ms: Date.now() - t0 };
}


function ps(field: string, pid: number): string {
  const r = spawnSync('ps', ['-o', `${field}=`, '-p', String(pid)], { encoding: 'utf8', timeout: 5000 });
  return (r.stdout ?? '').trim();
}

/** The process title as `ps` shows it (falls back to /proc/<pid>/cmdline). */
function title(pid: number): string {
  const shown = ps('args', pid);
  if (shown) return shown;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+/g, ' ').trim();
  } catch {
    return '';
  }
}

/** The worker's horse: its only child process. */
async function horsePid(w: SpawnedWorker): Promise<number> {
  return waitFor(
    () => {
      const r = spawnSync('ps', ['-o', 'pid=', '--ppid', String(w.pid)], { encoding: 'utf8', timeout: 5000 });
      const pids = (r.stdout ?? '').split('\n').map((s) => Number.parseInt(s.trim(), 10)).filter((n) => n > 0);
      return pids.length === 1 ? pids[0] : 0;
    },
    `the horse of worker ${w.name}`,
  ).then((pid) => {
    horses.add(pid);
    return pid;
  });
}

const workerKey = (w: SpawnedWorker): string => `rq:worker:${w.name}`;

async function waitIdle(w: SpawnedWorker): Promise<void> {
  await waitFor(async () => (await redis.hget(workerKey(w), 'state')) === 'idle', `worker ${w.name} to be idle (output: ${w.output()})`, 20_000);
}

/** The job has been claimed by the worker and its horse is running it. */
async function waitStarted(w: SpawnedWorker, job: Job): Promise<void> {
  await waitFor(
    async () => (await redis.hget(job.key, 'status')) === 'started' && (await redis.hget(workerKey(w), 'current_job')) === job.id,
    `job ${job.id} to start on ${w.name} (output: ${w.output()})`,
    20_000,
  );
}

/** rq's death registration (§4.11): `death` set, key TTL <= 60, out of rq:workers and rq:workers:<q>. */
async function assertDeathRegistered(w: SpawnedWorker, queues: string[]): Promise<void> {
  const key = workerKey(w);
  assert.ok(await redis.hget(key, 'death'), `${key} has a death date`);
  const ttl = await redis.ttl(key);
  assert.ok(ttl > 0 && ttl <= 60, `${key} expires within 60 s after death (ttl ${ttl})`);
  assert.equal(await redis.sismember('rq:workers', key), 0, `${key} left rq:workers`);
  for (const q of queues) assert.equal(await redis.sismember(`rq:workers:${q}`, key), 0, `${key} left rq:workers:${q}`);
}

describe('rq worker: warm shutdown of an idle worker', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal}: exits 0 promptly and registers its death`, async () => {
      const q = `idle-${signal.toLowerCase()}`;
      const w = spawnWorker([q]);
      await waitIdle(w);
      assert.equal(await redis.sismember('rq:workers', workerKey(w)), 1, 'registered while alive');
      assert.equal(await redis.sismember(`rq:workers:${q}`, workerKey(w)), 1, 'registered on its queue while alive');
      assert.equal(await redis.hexists(workerKey(w), 'death'), 0, 'no death while alive');

      process.kill(w.pid, signal);
      const exit = await waitExit(w, 10_000);
      assert.equal(exit.code, 0, w.output());
      assert.equal(exit.signal, null);
      assert.ok(exit.ms < 5000, `exited ${exit.ms} ms after ${signal}, not promptly`);
      assert.match(w.output(), /Warm shut down requested/);
      await assertDeathRegistered(w, [q]);
    });
  }
});

describe('rq worker: warm shutdown of a busy worker', () => {
  it('SIGTERM once: the job finishes, shutdown_requested_date is set while busy, then exit 0; the next job stays queued', async () => {
    const q = 'busy-warm';
    const queue = new Queue(q, { connection: redis });
    const job = await queue.enqueueCall({ func: task('slowAdd'), args: [1, 2, 1500] });
    const next = await queue.enqueueCall({ func: task('add'), args: [3, 4] });
    const w = spawnWorker([q]);
    await waitStarted(w, job);
    assert.equal(await redis.hexists(workerKey(w), 'shutdown_requested_date'), 0, 'no shutdown request before the signal');

    process.kill(w.pid, 'SIGTERM');
    const requested = await waitFor(() => redis.hget(workerKey(w), 'shutdown_requested_date'), 'shutdown_requested_date on the worker hash', 5000);
    assert.match(requested, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, 'rq timestamp format');
    // Still busy: the request was recorded while the job ran, and the worker has not left.
    assert.equal(await redis.hget(job.key, 'status'), 'started', 'the job was still running when the request was recorded');
    assert.equal(await redis.hget(workerKey(w), 'state'), 'busy');
    assert.equal(w.child.exitCode, null, 'the worker waits for its job');

    const exit = await waitExit(w, 20_000);
    assert.equal(exit.code, 0, w.output());
    assert.match(w.output(), /Warm shut down requested/);
    assert.doesNotMatch(w.output(), /Cold shut down/);

    const done = await Job.fetch(job.id, { connection: redis });
    assert.equal(done.status, 'finished', w.output());
    assert.equal(await returnValue(redis, job.id), 3);
    assert.ok((await redis.zscore(`rq:finished:${q}`, job.id)) !== null, 'in the FinishedJobRegistry');
    assert.equal(await redis.zscore(`rq:wip:${q}`, job.id), null, 'out of the StartedJobRegistry');

    assert.equal(await redis.hget(next.key, 'status'), 'queued', 'the second job was not started');
    assert.deepEqual(await redis.lrange(`rq:queue:${q}`, 0, -1), [next.id], 'the second job is still in its queue');
    await assertDeathRegistered(w, [q]);
  });

  it('SIGTERM twice: cold shutdown kills the horse, the job fails as a terminated work-horse, death still registered', async () => {
    const q = 'busy-cold';
    const job = await new Queue(q, { connection: redis }).enqueueCall({ func: task('sleepForever') });
    const w = spawnWorker([q]);
    await waitStarted(w, job);
    const horse = await horsePid(w);
    assert.ok(alive(horse));

    process.kill(w.pid, 'SIGTERM');
    await waitFor(() => w.output().includes('Warm shut down requested'), 'the warm shutdown log line', 5000);
    await waitFor(() => redis.hget(workerKey(w), 'shutdown_requested_date'), 'shutdown_requested_date', 5000);
    assert.equal(w.child.exitCode, null, 'a warm shutdown waits for the job');
    process.kill(w.pid, 'SIGTERM');

    const exit = await waitExit(w, 10_000);
    assert.ok(exit.ms < 5000, `exited ${exit.ms} ms after the second signal, not promptly`);
    assert.equal(exit.code, 0, w.output());
    assert.match(w.output(), /Cold shut down/);
    await waitFor(() => !alive(horse), `the horse (pid ${horse}) to be gone`, 5000);

    assert.equal(await redis.hget(job.key, 'status'), 'failed', w.output());
    const exc = await excText(redis, job.id);
    assert.match(exc, /Work-horse terminated unexpectedly; waitpid returned 9 \(signal 9\)/);
    assert.ok((await redis.zscore(`rq:failed:${q}`, job.id)) !== null, 'in the FailedJobRegistry');
    assert.equal(await redis.zscore(`rq:wip:${q}`, job.id), null, 'out of the StartedJobRegistry');
    await assertDeathRegistered(w, [q]);
  });
});

describe('rq worker: the horse runs in its own process group', () => {
  it('the horse leads its own group; SIGINT to the worker pid only is a warm shutdown and the job finishes', async () => {
    const q = 'pgroup-int';
    const job = await new Queue(q, { connection: redis }).enqueueCall({ func: task('slowAdd'), args: [2, 2, 1500] });
    const w = spawnWorker([q]);
    await waitStarted(w, job);
    const horse = await horsePid(w);
    assert.equal(Number(ps('pgid', horse)), horse, 'the horse is the leader of its own process group');
    assert.notEqual(Number(ps('pgid', horse)), Number(ps('pgid', w.pid)), 'the horse is not in the worker\'s process group');

    process.kill(w.pid, 'SIGINT');
    await waitFor(() => redis.hget(workerKey(w), 'shutdown_requested_date'), 'shutdown_requested_date', 5000);
    const exit = await waitExit(w, 20_000);
    assert.equal(exit.code, 0, w.output());
    assert.match(w.output(), /Warm shut down requested/);
    assert.equal(await redis.hget(job.key, 'status'), 'finished', w.output());
    assert.equal(await returnValue(redis, job.id), 4);
    await assertDeathRegistered(w, [q]);
  });

  it("SIGTERM to the worker's whole process group (as a service manager sends it) does not reach the job", async () => {
    const q = 'pgroup-term';
    const job = await new Queue(q, { connection: redis }).enqueueCall({ func: task('slowAdd'), args: [5, 5, 1500] });
    const w = spawnWorker([q]);
    await waitStarted(w, job);
    // The worker was spawned detached: its group is its pid. A horse in that group would die of SIGTERM.
    assert.equal(Number(ps('pgid', w.pid)), w.pid);
    process.kill(-w.pid, 'SIGTERM');
    const exit = await waitExit(w, 20_000);
    assert.equal(exit.code, 0, w.output());
    assert.equal(await redis.hget(job.key, 'status'), 'finished', w.output());
    assert.equal(await returnValue(redis, job.id), 10);
  });
});

describe('rq worker: process title', () => {
  it("shows 'rq: Listening on <queues>' when idle and 'rq: Processing <func>' while busy", async () => {
    const queues = ['title-a', 'title-b'];
    const w = spawnWorker(queues);
    await waitIdle(w);
    await waitFor(() => title(w.pid).startsWith('rq: Listening on title-a,title-b'), `the idle title (ps shows ${JSON.stringify(title(w.pid))})`, 5000);

    const job = await new Queue('title-b', { connection: redis }).enqueueCall({ func: task('slowAdd'), args: [1, 1, 1500] });
    // The horse takes its own jobs (the default): it shows the job, as python-rq's horse does.
    const horse = await horsePid(w);
    await waitFor(
      () => title(horse).startsWith('rq: Processing test.fixtures.tasks.slowAdd'),
      `the horse's busy title (ps shows ${JSON.stringify(title(horse))})`,
      10_000,
    );
    assert.equal(await redis.hget(job.key, 'status'), 'started', 'the title was shown while the job ran');

    await waitFor(async () => (await redis.hget(job.key, 'status')) === 'finished', 'the job to finish', 10_000);
    await waitFor(() => title(w.pid).startsWith('rq: Listening on title-a,title-b'), 'the idle title again', 5000);

    process.kill(w.pid, 'SIGTERM');
    const exit = await waitExit(w, 10_000);
    assert.equal(exit.code, 0, w.output());
  });
});

describe('rq worker: SIGKILL of a busy worker loses nothing', () => {
  /** Starts a worker on `q`, waits until it runs `job`, SIGKILLs it and checks what it left behind. */
  async function killMidJob(q: string, job: Job): Promise<SpawnedWorker> {
    const w = spawnWorker([q]);
    await waitStarted(w, job);
    const horse = await horsePid(w);
    process.kill(w.pid, 'SIGKILL');
    const exit = await waitExit(w, 10_000);
    assert.equal(exit.signal, 'SIGKILL');
    await waitFor(() => !alive(horse), `the orphaned horse (pid ${horse}) to exit`, 10_000);

    assert.ok((await redis.zscore(`rq:wip:${q}`, job.id)) !== null, 'the job is still in the StartedJobRegistry');
    assert.equal(await redis.hget(job.key, 'status'), 'started');
    assert.equal(await redis.hexists(workerKey(w), 'death'), 0, 'a SIGKILLed worker registers no death');
    assert.ok((await redis.ttl(workerKey(w))) > 0, 'its hash will expire');

    // Its heartbeats stopped: make the entry's score (last heartbeat + ttl) lie in the past, and let
    // the next worker's startup maintenance run (the 899 s lock was taken by the killed worker).
    await redis.zadd(`rq:wip:${q}`, epochSeconds() - 10, job.id);
    await redis.del(`rq:clean_registries:${q}`);
    return w;
  }

  it('the next worker moves the job to the FailedJobRegistry (Moved to FailedJobRegistry at ...)', async () => {
    const q = 'killed-fail';
    const job = await new Queue(q, { connection: redis }).enqueueCall({ func: task('sleepForever') });
    await killMidJob(q, job);

    const w2 = spawnWorker(['-b', q]);
    const exit = await waitExit(w2, 20_000);
    assert.equal(exit.code, 0, w2.output());
    assert.equal(await redis.zscore(`rq:wip:${q}`, job.id), null, 'out of the StartedJobRegistry');
    assert.ok((await redis.zscore(`rq:failed:${q}`, job.id)) !== null, `in the FailedJobRegistry (output: ${w2.output()})`);
    assert.equal(await redis.hget(job.key, 'status'), 'failed');
    assert.match(await excText(redis, job.id), /^Moved to FailedJobRegistry at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d/);
  });

  it('a job with retries left is requeued by the next worker, which then runs it', async () => {
    const q = 'killed-retry';
    const job = await new Queue(q, { connection: redis }).enqueueCall({ func: task('slowAdd'), args: [20, 22, 3000], retry: { max: 1 } });
    await killMidJob(q, job);
    assert.equal(await redis.hget(job.key, 'retries_left'), '1');

    const w2 = spawnWorker(['-b', q]);
    const exit = await waitExit(w2, 20_000);
    assert.equal(exit.code, 0, w2.output());
    assert.equal(await redis.zscore(`rq:wip:${q}`, job.id), null, 'out of the StartedJobRegistry');
    assert.equal(await redis.zscore(`rq:failed:${q}`, job.id), null, 'not failed: it had a retry left');
    assert.equal(await redis.hget(job.key, 'status'), 'finished', w2.output());
    assert.equal(await redis.hget(job.key, 'retries_left'), '0');
    assert.equal(await returnValue(redis, job.id), 42);
  });
});
