/**
 * 2. SimpleWorker (jobs run in the worker's process) vs BullMQ's in-process Worker and python-rq's
 * SimpleWorker, and the BENCH_BASELINE build. The SimpleWorker also on jobs enqueued by python-rq
 * (a mixed fleet).
 */
import { runBullmqRound } from '../bullmq.js';
import { scaled } from '../context.js';
import { compare, compareCold, latencyTarget } from '../report.js';
import { runRqRound } from '../rq-workers.js';
import { baselineSystem, baselineWorker, latencyPerRound, measureAll, NODE_WARMUP, PYTHON_WARMUP, rowsOf, type Scenario } from './common.js';

const RQ = 'rq-ts SimpleWorker';
const RQ_PY_ENQUEUED = 'rq-ts SimpleWorker, jobs enqueued by python-rq';
const VM = 'rq-ts SimpleWorker, InProcessDeathPenalty';
const C1 = 'BullMQ in-process, concurrency 1';
const C8 = 'BullMQ in-process, concurrency 8';
const PY = 'python-rq SimpleWorker';

export const simpleWorker: Scenario = {
  id: '2',
  title: '2. SimpleWorker, no-op jobs',
  async run(ctx) {
    const rqOptions = { workerClass: 'SimpleWorker', jobs: scaled(ctx, 4000), warmup: NODE_WARMUP, latencySamples: latencyPerRound(ctx) } as const;
    const { jobs, latencySamples } = rqOptions;
    const python = ctx.python;
    const rows = await measureAll(ctx, this.title, [
      { system: RQ, worker: () => runRqRound(ctx, { system: 'rq-ts', ...rqOptions }) },
      ...baselineWorker(ctx, rqOptions),
      python
        ? {
            system: RQ_PY_ENQUEUED,
            // No latency part: it would enqueue with rq-ts, as the first row does.
            worker: () => runRqRound(ctx, { system: 'rq-ts', ...rqOptions, latencySamples: 0, enqueuer: 'python-rq' }),
          }
        : { system: RQ_PY_ENQUEUED, skipped: 'python-rq not installed' },
      {
        // Not the default: node:vm's watchdog interrupts a job that blocks the event loop in-process,
        // with a thread per call. Shown for what that costs.
        system: VM,
        worker: () =>
          runRqRound(ctx, { system: 'rq-ts', workerClass: 'SimpleWorker', jobs, warmup: NODE_WARMUP, env: { RQ_DEATH_PENALTY_CLASS: 'rq.timeouts.InProcessDeathPenalty' } }),
      },
      { system: C1, worker: () => runBullmqRound(ctx, { mode: 'inprocess', concurrency: 1, jobs, warmup: NODE_WARMUP, latencySamples }) },
      { system: C8, worker: () => runBullmqRound(ctx, { mode: 'inprocess', concurrency: 8, jobs, warmup: NODE_WARMUP }) },
      python
        ? {
            system: PY,
            worker: () =>
              runRqRound(ctx, { system: 'python-rq', workerClass: 'SimpleWorker', jobs: scaled(ctx, 1000, 100), warmup: PYTHON_WARMUP, latencySamples: Math.ceil(latencySamples / 6) }),
          }
        : { system: PY, skipped: 'python-rq not installed' },
    ]);
    const [rq, base, pyEnqueued, vm, c1, c8, py] = rowsOf(rows, RQ, baselineSystem(ctx, 'SimpleWorker'), RQ_PY_ENQUEUED, VM, C1, C8, PY);
    compare(rq!, c1, 1.5);
    compare(rq!, c8);
    compare(rq!, py, 10);
    compare(rq!, base);
    latencyTarget(rq!, 1);
    // The same bar as the row above: python-rq producers are the main use case.
    compare(pyEnqueued!, c1, 1.5);
    compare(pyEnqueued!, rq);
    compare(vm!, c1);
    compare(vm!, py);
    compare(vm!, rq);
    for (const row of [rq, base, pyEnqueued, vm, py]) compareCold(row, c1);
    compareCold(rq, base);
    compareCold(pyEnqueued, rq);
    return rows;
  },
};
