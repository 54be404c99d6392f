/**
 * BullMQ, the Node peer: enqueueing in this process, its workers in a child process
 * (dist/bench/bullmq-worker.js), measured as the rq workers are (steady-state jobs/s from the jobs'
 * processedOn/finishedOn, RSS from /proc, enqueue->start latency on an idle worker).
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Queue as BullQueue } from 'bullmq';
import type { BenchContext } from './context.js';
import type { BullmqMode, BullmqWorkerConfig, BullmqWorkerMessage } from './bullmq-worker.js';
import { processCpu, readRedisCounters, redisCost } from './cost.js';
import { descendants, rssKib, spawnTracked, type Tracked } from './procs.js';
import { waitUntilIdle } from './redis.js';
import type { RoundResult } from './rq-workers.js';
import { coldThroughput, makeClock, steadyThroughput } from './stats.js';

const QUEUE = 'bench';

export function bullmqVersion(): string {
  const require = createRequire(import.meta.url);
  return (require('bullmq/package.json') as { version: string }).version;
}

export function bullmqQueue(ctx: BenchContext): BullQueue {
  return new BullQueue(QUEUE, { connection: { host: '127.0.0.1', port: ctx.redis.port } });
}

export interface BullmqRunOptions {
  mode: BullmqMode;
  concurrency: number;
  jobs: number;
  warmup: number;
  payload?: string;
  /** The in-process processor awaits this many ms per job (the I/O-bound scenario). */
  waitMs?: number;
  latencySamples?: number;
  timeoutMs?: number;
}

/** Messages from the worker process, awaited one condition at a time. */
class Inbox {
  private readonly messages: BullmqWorkerMessage[] = [];
  private wake: (() => void) | null = null;
  failure: string | null = null;

  constructor(private readonly child: Tracked) {
    child.proc.on('message', (m: BullmqWorkerMessage) => {
      if (m.type === 'failed') this.failure ??= m.error;
      else this.messages.push(m);
      this.wake?.();
    });
    void child.exited.then(() => this.wake?.());
  }

  async next<T extends BullmqWorkerMessage>(match: (m: BullmqWorkerMessage) => m is T, what: string, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.messages.findIndex(match);
      if (i >= 0) return this.messages.splice(i, 1)[0] as T;
      if (this.failure) throw new Error(`BullMQ ${what}: ${this.failure}`);
      if (this.child.hasExited()) throw new Error(`BullMQ worker exited while waiting for ${what}:\n${this.child.logTail()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for BullMQ ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1_000));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }
}

async function addJobs(queue: BullQueue, count: number, payload: string | undefined): Promise<void> {
  const job = payload === undefined ? { name: 'noop', data: {} } : { name: 'payload', data: { s: payload } };
  for (let done = 0; done < count; done += 1000) {
    await queue.addBulk(Array.from({ length: Math.min(1000, count - done) }, () => job));
  }
}

export async function runBullmqRound(ctx: BenchContext, opts: BullmqRunOptions): Promise<RoundResult> {
  await ctx.redis.flush();
  const queue = bullmqQueue(ctx);
  let child: Tracked | null = null;
  const admin = ctx.redis.client();
  try {
    const total = opts.warmup + opts.jobs;
    await addJobs(queue, total, opts.payload);
    const config: BullmqWorkerConfig = {
      port: ctx.redis.port,
      queue: QUEUE,
      mode: opts.mode,
      concurrency: opts.concurrency,
      total,
      processorFile: join(ctx.repoRoot, 'bench/bullmq-processor.mjs'),
      ...(opts.waitMs !== undefined ? { waitMs: opts.waitMs } : {}),
    };
    const limit = opts.timeoutMs ?? 120_000;
    const before = await readRedisCounters(admin);
    const spawnedAt = Date.now();
    child = spawnTracked(process.execPath, [join(ctx.repoRoot, 'dist/bench/bullmq-worker.js'), JSON.stringify(config)], {
      name: `bullmq-${opts.mode}-c${opts.concurrency}`,
      cwd: ctx.workDir,
      logDir: ctx.logDir,
      timeoutMs: limit + 60_000,
      ipc: true,
    });
    const inbox = new Inbox(child);
    const drained = await inbox.next((m): m is Extract<BullmqWorkerMessage, { type: 'drained' }> => m.type === 'drained', `to run ${total} jobs`, limit);
    const wallMs = Date.now() - spawnedAt;
    const redis = redisCost(before, await readRedisCounters(admin), total);
    const cpu = processCpu([child.pid], total, wallMs);
    const workerRssKib = [rssKib(child.pid) ?? 0];
    const childRssKib = descendants(child.pid).map((p) => rssKib(p) ?? 0);
    const times = drained.times.map(([start, end]) => ({ start, end, worker: 'bullmq' }));
    const throughput = steadyThroughput(times, opts.warmup);
    const cold = coldThroughput(times, spawnedAt);

    const latenciesMs: number[] = [];
    let notBlocked = 0;
    if ((opts.latencySamples ?? 0) > 0) {
      await inbox.next((m): m is Extract<BullmqWorkerMessage, { type: 'ready' }> => m.type === 'ready', 'ready', 10_000);
      const clock = makeClock();
      for (let i = 0; i < opts.latencySamples!; i++) {
        // Enqueue only once the worker has been idle IDLE_MS and waits on the empty queue.
        if (!(await waitUntilIdle(admin, 1))) notBlocked++;
        const t0 = clock();
        const job = await queue.add(opts.payload === undefined ? 'noop' : 'payload', opts.payload === undefined ? {} : { s: opts.payload });
        const done = await inbox.next(
          (m): m is Extract<BullmqWorkerMessage, { type: 'completed' }> => m.type === 'completed' && m.id === job.id,
          `job ${String(job.id)} to complete`,
          10_000,
        );
        // processedOn is whole milliseconds: count from the middle of that millisecond.
        latenciesMs.push(done.processedOn + 0.5 - t0);
      }
    }
    return { throughput, cold, redis, cpu, wallMs, workerRssKib, childRssKib, latenciesMs, notBlocked };
  } finally {
    if (child) {
      child.send({ type: 'stop' });
      await child.stop(10_000);
    }
    await queue.close();
    admin.disconnect();
  }
}
