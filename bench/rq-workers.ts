/**
 * rq-ts (this checkout's and BENCH_BASELINE's) and python-rq workers as child processes (their own
 * CLIs), fed with pre-enqueued jobs: per-job start/end times come from the job hashes all write
 * (started_at / ended_at / worker_name), the worker's RSS and CPU from /proc, Redis's cost from INFO,
 * and enqueue->start latency from an idle worker blocked on an empty queue.
 */
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { Queue } from '../lib/index.js';
import type { BenchContext } from './context.js';
import { pythonEnqueueMany } from './python.js';
import { processCpu, readRedisCounters, redisCost, type ProcessCpu, type RedisCost } from './cost.js';
import { descendants, rssKib, spawnTracked, waitUntil, type Tracked } from './procs.js';
import { waitUntilIdle } from './redis.js';
import { coldThroughput, makeClock, parseRqTime, steadyThroughput, type ColdThroughput, type JobTimes, type Throughput } from './stats.js';

/** `baseline`: the CLI of the BENCH_BASELINE checkout, on the same jobs as `rq-ts`. */
export type RqSystem = 'rq-ts' | 'baseline' | 'python-rq';
export type RqWorkerClass = 'Worker' | 'SimpleWorker';

export interface RqRunOptions {
  system: RqSystem;
  workerClass: RqWorkerClass;
  /** Measured jobs (after `warmup` more per worker, which are run first and not counted). */
  jobs: number;
  warmup: number;
  /** Worker processes on the one queue. */
  workers?: number;
  /** A string argument for every job (bench.jobs.payload), else bench.jobs.noop(). */
  payload?: string;
  /** Enqueue->start samples taken afterwards from the (then idle) worker; 0 for none. */
  latencySamples?: number;
  /** Limit for draining the queue. */
  timeoutMs?: number;
  /** Extra environment for the worker processes (e.g. RQ_DEATH_PENALTY_CLASS). */
  env?: Record<string, string>;
  /** Jobs that await this many ms (bench.jobs.io), instead of noop/payload (rq-ts only). */
  waitMs?: number;
  /** `--concurrency` of the rq-ts workers. */
  concurrency?: number;
  /** More options for the worker CLI (e.g. `--horse-max-jobs 1000`). */
  workerArgs?: string[];
  /**
   * Who enqueues the measured jobs (warm-up ones included): rq-ts's Queue.enqueueMany (default) or
   * python-rq's Queue.enqueue_many (python.pythonEnqueueMany), a mixed fleet's python producer. The
   * latency part, when asked for, enqueues with rq-ts either way.
   */
  enqueuer?: 'rq-ts' | 'python-rq';
}

export interface RoundResult {
  throughput: Throughput;
  /** The first jobs after the spawn, start-up included. */
  cold: ColdThroughput;
  /** Over the whole throughput run (warm-up jobs included), not the latency part. */
  redis: RedisCost;
  cpu: ProcessCpu;
  /** Spawn of the workers until the last job finished, ms (process start-up included). */
  wallMs: number;
  /** VmRSS (KiB) of each worker process, then of their descendants (rq-ts: the horse), at the end of the run. */
  workerRssKib: number[];
  childRssKib: number[];
  /** Enqueue->start, ms. */
  latenciesMs: number[];
  /** Latency samples enqueued although no blocked worker was seen within 2 s (should be 0). */
  notBlocked: number;
}

const QUEUE = 'bench';

function funcName(system: RqSystem, payload: boolean): string {
  const fn = payload ? 'payload' : 'noop';
  return system === 'python-rq' ? `benchjobs.${fn}` : `bench.jobs.${fn}`;
}

function workerCommand(ctx: BenchContext, system: RqSystem, workerClass: RqWorkerClass, concurrency?: number, extra: readonly string[] = []): [string, string[]] {
  if (system !== 'python-rq') {
    if (system === 'baseline' && !ctx.baseline) throw new Error('BENCH_BASELINE is not set');
    const cli = system === 'baseline' ? ctx.baseline!.cli : join(ctx.repoRoot, 'dist/lib/cli/main.js');
    // -P this checkout for both: bench.jobs is this checkout's bench/jobs.ts, which the baseline may not have.
    const args = [cli, 'worker', '-u', ctx.redis.url, '-P', ctx.repoRoot];
    if (workerClass === 'SimpleWorker') args.push('-w', 'rq.SimpleWorker');
    if (concurrency !== undefined) args.push('--concurrency', String(concurrency));
    return [process.execPath, [...args, ...extra, QUEUE]];
  }
  if (!ctx.python) throw new Error('python-rq is not available');
  const args = ['-m', 'rq.cli', 'worker', '-u', ctx.redis.url, '-S', 'rq.serializers.JSONSerializer', '-P', ctx.python.moduleDir];
  if (workerClass === 'SimpleWorker') args.push('-w', 'rq.worker.SimpleWorker');
  return [ctx.python.executable, [...args, ...extra, QUEUE]];
}

/** Enqueues `count` calls with rq-ts (python-rq reads them: same wire format, JSON serializer). */
async function enqueueJobs(connection: Redis, func: string, count: number, payload: string | number | undefined): Promise<string[]> {
  const queue = new Queue(QUEUE, { connection });
  const ids: string[] = [];
  for (let done = 0; done < count; done += 1000) {
    const n = Math.min(1000, count - done);
    const calls = Array.from({ length: n }, () => (payload === undefined ? { func } : { func, args: [payload] }));
    for (const job of await queue.enqueueMany(calls)) ids.push(job.id);
  }
  return ids;
}

async function readTimes(connection: Redis, ids: readonly string[]): Promise<JobTimes[]> {
  const out: JobTimes[] = [];
  for (let i = 0; i < ids.length; i += 5000) {
    const pipe = connection.pipeline();
    for (const id of ids.slice(i, i + 5000)) pipe.hmget(`rq:job:${id}`, 'started_at', 'ended_at', 'worker_name');
    for (const [err, reply] of (await pipe.exec()) ?? []) {
      if (err) throw err;
      const [started, ended, worker] = reply as (string | null)[];
      const start = parseRqTime(started);
      const end = parseRqTime(ended);
      if (start === null || end === null) throw new Error(`a job has no started_at/ended_at (${String(started)}, ${String(ended)})`);
      out.push({ start, end, worker: worker ?? '?' });
    }
  }
  return out;
}

async function failedJobSummary(connection: Redis): Promise<string | null> {
  const ids = await connection.zrange(`rq:failed:${QUEUE}`, '0', '0');
  if (ids.length === 0) return null;
  const exc = await connection.hget(`rq:job:${ids[0]}`, 'exc_info');
  return `job ${ids[0]} failed: ${exc ?? '(no exc_info; see the result stream)'}`;
}

/** One round: flush, enqueue, start the workers, wait for the drain, measure; workers stopped before returning. */
export async function runRqRound(ctx: BenchContext, opts: RqRunOptions): Promise<RoundResult> {
  const { system, workerClass } = opts;
  const workerCount = opts.workers ?? 1;
  // Every worker runs its own warm-up jobs before the window opens (stats.steadyThroughput).
  const total = opts.warmup * (opts.workers ?? 1) + opts.jobs;
  await ctx.redis.flush();
  const connection = ctx.redis.client();
  const blocking = ctx.redis.client();
  const workers: Tracked[] = [];
  try {
    const func = opts.waitMs !== undefined ? 'bench.jobs.io' : funcName(system, opts.payload !== undefined);
    const arg = opts.waitMs ?? opts.payload;
    let ids: string[];
    if (opts.enqueuer === 'python-rq') {
      if (!ctx.python) throw new Error('python-rq is not available to enqueue with');
      ids = pythonEnqueueMany(ctx.python, ctx.redis.url, func, total, arg === undefined ? [] : [arg]);
    } else {
      ids = await enqueueJobs(connection, func, total, arg);
    }
    const [cmd, args] = workerCommand(ctx, system, workerClass, opts.concurrency, opts.workerArgs);
    const before = await readRedisCounters(connection);
    const spawnedAt = Date.now();
    const limit = opts.timeoutMs ?? 120_000;
    for (let i = 0; i < workerCount; i++) {
      workers.push(
        spawnTracked(cmd, args, { name: `${system}-${workerClass}-${i}`, cwd: ctx.workDir, logDir: ctx.logDir, timeoutMs: limit + 60_000, ...(opts.env ? { env: opts.env } : {}) }),
      );
    }
    let failure: string | null = null;
    const abort = (): string | null => {
      const dead = workers.find((w) => w.hasExited());
      if (dead) return `${dead.name} exited early; its output:\n${dead.logTail()}`;
      return failure;
    };
    await waitUntil(
      async () => {
        const [finished, failed] = await Promise.all([connection.zcard(`rq:finished:${QUEUE}`), connection.zcard(`rq:failed:${QUEUE}`)]);
        if (failed > 0) failure = `${await failedJobSummary(connection)}\nworker output:\n${workers[0]!.logTail()}`;
        return finished >= total;
      },
      `${workerCount} ${system} ${workerClass}(s) to run ${total} jobs`,
      limit,
      20,
      abort,
    );
    const wallMs = Date.now() - spawnedAt;
    const redis = redisCost(before, await readRedisCounters(connection), total);
    const cpu = processCpu(workers.map((w) => w.pid), total, wallMs);
    const workerRssKib = workers.map((w) => rssKib(w.pid) ?? 0);
    const childRssKib = workers.flatMap((w) => descendants(w.pid).map((p) => rssKib(p) ?? 0));
    const times = await readTimes(connection, ids);
    const throughput = steadyThroughput(times, opts.warmup);
    const cold = coldThroughput(times, spawnedAt);

    const latenciesMs: number[] = [];
    let notBlocked = 0;
    if ((opts.latencySamples ?? 0) > 0) {
      const queue = new Queue(QUEUE, { connection });
      const clock = makeClock();
      // rq-ts writes started_at in whole milliseconds (floored): count from the middle of that millisecond.
      const precisionFix = system === 'python-rq' ? 0 : 0.5;
      for (let i = 0; i < opts.latencySamples!; i++) {
        // Enqueue only once the worker has been idle IDLE_MS and waits on the empty queue.
        if (!(await waitUntilIdle(connection, 1))) notBlocked++;
        const t0 = clock();
        const job = await queue.enqueue(func, ...(opts.waitMs !== undefined ? [opts.waitMs] : opts.payload === undefined ? [] : [opts.payload]));
        await waitForResult(connection, blocking, job.id, abort);
        const started = parseRqTime(await connection.hget(`rq:job:${job.id}`, 'started_at'));
        if (started === null) throw new Error(`job ${job.id} finished without started_at`);
        latenciesMs.push(started + precisionFix - t0);
      }
    }
    return { throughput, cold, redis, cpu, wallMs, workerRssKib, childRssKib, latenciesMs, notBlocked };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    connection.disconnect();
    blocking.disconnect();
  }
}

/** Waits on the job's result stream (rq:results:<id>, written by both rq 1.13 and rq-ts when a job ends). */
async function waitForResult(connection: Redis, blocking: Redis, id: string, abort: () => string | null): Promise<void> {
  const reply = await blocking.xread('BLOCK', 10_000, 'STREAMS', `rq:results:${id}`, '0');
  if (reply) return;
  const status = await connection.hget(`rq:job:${id}`, 'status');
  throw new Error(`job ${id} did not finish within 10 s (status ${String(status)})${abort() ? `: ${abort()}` : ''}`);
}
