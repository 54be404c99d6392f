/**
 * 1. The default Worker (jobs run in the warm work horse) vs BullMQ's sandboxed processors (a reused
 * child process; worker threads) and python-rq's Worker (a fork per job).
 */
import { runBullmqRound } from '../bullmq.js';
import { scaled } from '../context.js';
import { compare, compareCold, latencyTarget } from '../report.js';
import { runRqRound } from '../rq-workers.js';
import { latencyPerRound, measureAll, NODE_WARMUP, PYTHON_WARMUP, type Scenario } from './common.js';

export const defaultWorker: Scenario = {
  id: '1',
  title: '1. default Worker (horse), no-op jobs',
  async run(ctx) {
    const jobs = scaled(ctx, 5000);
    const latencySamples = latencyPerRound(ctx);
    const python = ctx.python;
    const [rq, child, threads, py] = await measureAll(ctx, this.title, [
      {
        system: 'rq-ts Worker',
        worker: () => runRqRound(ctx, { system: 'rq-ts', workerClass: 'Worker', jobs, warmup: NODE_WARMUP, latencySamples }),
      },
      {
        system: 'BullMQ sandboxed, child process',
        worker: () => runBullmqRound(ctx, { mode: 'sandbox-process', concurrency: 1, jobs, warmup: NODE_WARMUP, latencySamples }),
      },
      {
        system: 'BullMQ sandboxed, worker thread',
        worker: () => runBullmqRound(ctx, { mode: 'sandbox-threads', concurrency: 1, jobs, warmup: NODE_WARMUP, latencySamples }),
      },
      python
        ? {
            system: 'python-rq Worker (fork per job)',
            worker: () =>
              runRqRound(ctx, { system: 'python-rq', workerClass: 'Worker', jobs: scaled(ctx, 300, 50), warmup: PYTHON_WARMUP, latencySamples: Math.ceil(latencySamples / 6) }),
          }
        : { system: 'python-rq Worker (fork per job)', skipped: 'python-rq not installed' },
    ]);
    compare(rq!, child, 2);
    compare(rq!, threads);
    compare(rq!, py, 20);
    latencyTarget(rq!, 1);
    for (const row of [rq, py]) compareCold(row, child);
    return [rq!, child!, threads!, py!];
  },
};
