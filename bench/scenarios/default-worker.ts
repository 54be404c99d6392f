/**
 * 1. The default Worker (jobs run in the warm work horse) vs BullMQ's sandboxed processors (a reused
 * child process; worker threads) and python-rq's Worker (a fork per job), and the BENCH_BASELINE build.
 * The Worker also on jobs enqueued by python-rq (a mixed fleet), and with its horse replaced every
 * 1,000 jobs (--horse-max-jobs: start-up paid again and again, as a leak guard makes it).
 */
import { runBullmqRound } from '../bullmq.js';
import { scaled } from '../context.js';
import { compare, compareCold, latencyTarget } from '../report.js';
import { runRqRound } from '../rq-workers.js';
import { baselineSystem, baselineWorker, latencyPerRound, measureAll, NODE_WARMUP, PYTHON_WARMUP, rowsOf, type Scenario } from './common.js';

const RQ = 'rq-ts Worker';
const RQ_PY_ENQUEUED = 'rq-ts Worker, jobs enqueued by python-rq';
const RQ_HORSE_1000 = 'rq-ts Worker --horse-max-jobs 1000';
const CHILD = 'BullMQ sandboxed, child process';
const THREADS = 'BullMQ sandboxed, worker thread';
const PY = 'python-rq Worker (fork per job)';

export const defaultWorker: Scenario = {
  id: '1',
  title: '1. default Worker (horse), no-op jobs',
  async run(ctx) {
    const rqOptions = { workerClass: 'Worker', jobs: scaled(ctx, 5000), warmup: NODE_WARMUP, latencySamples: latencyPerRound(ctx) } as const;
    const python = ctx.python;
    // No latency part for these two: it would enqueue with rq-ts on a warm horse, as the first row does.
    const variant = { ...rqOptions, latencySamples: 0 };
    const rows = await measureAll(ctx, this.title, [
      { system: RQ, worker: () => runRqRound(ctx, { system: 'rq-ts', ...rqOptions }) },
      ...baselineWorker(ctx, rqOptions),
      python
        ? { system: RQ_PY_ENQUEUED, worker: () => runRqRound(ctx, { system: 'rq-ts', ...variant, enqueuer: 'python-rq' }) }
        : { system: RQ_PY_ENQUEUED, skipped: 'python-rq not installed' },
      { system: RQ_HORSE_1000, worker: () => runRqRound(ctx, { system: 'rq-ts', ...variant, workerArgs: ['--horse-max-jobs', '1000'] }) },
      { system: CHILD, worker: () => runBullmqRound(ctx, { mode: 'sandbox-process', concurrency: 1, jobs: rqOptions.jobs, warmup: NODE_WARMUP, latencySamples: rqOptions.latencySamples }) },
      { system: THREADS, worker: () => runBullmqRound(ctx, { mode: 'sandbox-threads', concurrency: 1, jobs: rqOptions.jobs, warmup: NODE_WARMUP, latencySamples: rqOptions.latencySamples }) },
      python
        ? {
            system: PY,
            worker: () =>
              runRqRound(ctx, { system: 'python-rq', workerClass: 'Worker', jobs: scaled(ctx, 300, 50), warmup: PYTHON_WARMUP, latencySamples: Math.ceil(rqOptions.latencySamples / 6) }),
          }
        : { system: PY, skipped: 'python-rq not installed' },
    ]);
    const [rq, base, pyEnqueued, horse1000, child, threads, py] = rowsOf(rows, RQ, baselineSystem(ctx, 'Worker'), RQ_PY_ENQUEUED, RQ_HORSE_1000, CHILD, THREADS, PY);
    compare(rq!, child, 2);
    compare(rq!, threads);
    compare(rq!, py, 20);
    compare(rq!, base);
    latencyTarget(rq!, 1);
    // The same bar as the row above: python-rq producers are the main use case.
    compare(pyEnqueued!, child, 2);
    compare(pyEnqueued!, rq);
    // The target for a horse replaced every 1,000 jobs: >= 1.0x BullMQ's child process, steady and cold.
    compare(horse1000!, child, 1);
    compare(horse1000!, threads);
    compare(horse1000!, rq);
    for (const row of [rq, base, pyEnqueued, horse1000, py]) compareCold(row, child);
    compareCold(rq, base);
    compareCold(pyEnqueued, rq);
    compareCold(horse1000, rq);
    return rows;
  },
};
