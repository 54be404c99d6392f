/**
 * 1. The default Worker (jobs run in the warm work horse) vs BullMQ's sandboxed processors (a reused
 * child process; worker threads) and python-rq's Worker (a fork per job), and the BENCH_BASELINE build.
 */
import { runBullmqRound } from '../bullmq.js';
import { scaled } from '../context.js';
import { compare, compareCold, latencyTarget } from '../report.js';
import { runRqRound } from '../rq-workers.js';
import { baselineSystem, baselineWorker, latencyPerRound, measureAll, NODE_WARMUP, PYTHON_WARMUP, rowsOf, type Scenario } from './common.js';

const RQ = 'rq-ts Worker';
const CHILD = 'BullMQ sandboxed, child process';
const THREADS = 'BullMQ sandboxed, worker thread';
const PY = 'python-rq Worker (fork per job)';

export const defaultWorker: Scenario = {
  id: '1',
  title: '1. default Worker (horse), no-op jobs',
  async run(ctx) {
    const rqOptions = { workerClass: 'Worker', jobs: scaled(ctx, 5000), warmup: NODE_WARMUP, latencySamples: latencyPerRound(ctx) } as const;
    const python = ctx.python;
    const rows = await measureAll(ctx, this.title, [
      { system: RQ, worker: () => runRqRound(ctx, { system: 'rq-ts', ...rqOptions }) },
      ...baselineWorker(ctx, rqOptions),
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
    const [rq, base, child, threads, py] = rowsOf(rows, RQ, baselineSystem(ctx, 'Worker'), CHILD, THREADS, PY);
    compare(rq!, child, 2);
    compare(rq!, threads);
    compare(rq!, py, 20);
    compare(rq!, base);
    latencyTarget(rq!, 1);
    for (const row of [rq, base, py]) compareCold(row, child);
    compareCold(rq, base);
    return rows;
  },
};
