/** 2. SimpleWorker (jobs run in the worker's process) vs BullMQ's in-process Worker and python-rq's SimpleWorker. */
import { runBullmqRound } from '../bullmq.js';
import { scaled } from '../context.js';
import { compare, compareCold, latencyTarget } from '../report.js';
import { runRqRound } from '../rq-workers.js';
import { latencyPerRound, measureAll, NODE_WARMUP, PYTHON_WARMUP, type Scenario } from './common.js';

export const simpleWorker: Scenario = {
  id: '2',
  title: '2. SimpleWorker, no-op jobs',
  async run(ctx) {
    const jobs = scaled(ctx, 4000);
    const latencySamples = latencyPerRound(ctx);
    const python = ctx.python;
    const [rq, vm, c1, c8, py] = await measureAll(ctx, this.title, [
      {
        system: 'rq-ts SimpleWorker',
        worker: () => runRqRound(ctx, { system: 'rq-ts', workerClass: 'SimpleWorker', jobs, warmup: NODE_WARMUP, latencySamples }),
      },
      {
        // Not the default: node:vm's watchdog interrupts a job that blocks the event loop in-process,
        // with a thread per call. Shown for what that costs.
        system: 'rq-ts SimpleWorker, InProcessDeathPenalty',
        worker: () =>
          runRqRound(ctx, { system: 'rq-ts', workerClass: 'SimpleWorker', jobs, warmup: NODE_WARMUP, env: { RQ_DEATH_PENALTY_CLASS: 'rq.timeouts.InProcessDeathPenalty' } }),
      },
      {
        system: 'BullMQ in-process, concurrency 1',
        worker: () => runBullmqRound(ctx, { mode: 'inprocess', concurrency: 1, jobs, warmup: NODE_WARMUP, latencySamples }),
      },
      {
        system: 'BullMQ in-process, concurrency 8',
        worker: () => runBullmqRound(ctx, { mode: 'inprocess', concurrency: 8, jobs, warmup: NODE_WARMUP }),
      },
      python
        ? {
            system: 'python-rq SimpleWorker',
            worker: () =>
              runRqRound(ctx, { system: 'python-rq', workerClass: 'SimpleWorker', jobs: scaled(ctx, 1000, 100), warmup: PYTHON_WARMUP, latencySamples: Math.ceil(latencySamples / 6) }),
          }
        : { system: 'python-rq SimpleWorker', skipped: 'python-rq not installed' },
    ]);
    compare(rq!, c1, 1.5);
    compare(rq!, c8);
    compare(rq!, py, 10);
    latencyTarget(rq!, 1);
    compare(vm!, c1);
    compare(vm!, py);
    compare(vm!, rq);
    for (const row of [rq, vm, py]) compareCold(row, c1);
    return [rq!, vm!, c1!, c8!, py!];
  },
};
