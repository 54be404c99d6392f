/** 5. A 1 KB string argument per job, through the default Worker and SimpleWorker (and BullMQ's counterparts). */
import { runBullmqRound } from '../bullmq.js';
import { scaled } from '../context.js';
import { compare, compareCold } from '../report.js';
import { runRqRound } from '../rq-workers.js';
import { findRow, measureAll, NODE_WARMUP, PAYLOAD_1KB, type Scenario } from './common.js';

export const payloadJobs: Scenario = {
  id: '5',
  title: '5. 1 KB payload jobs',
  async run(ctx, previous) {
    const payload = PAYLOAD_1KB;
    const [rqWorker, bullChild, rqSimple, bullInProcess] = await measureAll(ctx, this.title, [
      {
        system: 'rq-ts Worker, 1 KB arg',
        worker: () => runRqRound(ctx, { system: 'rq-ts', workerClass: 'Worker', jobs: scaled(ctx, 1500), warmup: NODE_WARMUP, payload }),
      },
      {
        system: 'BullMQ sandboxed child process, 1 KB data',
        worker: () => runBullmqRound(ctx, { mode: 'sandbox-process', concurrency: 1, jobs: scaled(ctx, 1500), warmup: NODE_WARMUP, payload }),
      },
      {
        system: 'rq-ts SimpleWorker, 1 KB arg',
        worker: () => runRqRound(ctx, { system: 'rq-ts', workerClass: 'SimpleWorker', jobs: scaled(ctx, 2500), warmup: NODE_WARMUP, payload }),
      },
      {
        system: 'BullMQ in-process c1, 1 KB data',
        worker: () => runBullmqRound(ctx, { mode: 'inprocess', concurrency: 1, jobs: scaled(ctx, 2500), warmup: NODE_WARMUP, payload }),
      },
    ]);
    compare(rqWorker!, bullChild);
    compare(rqWorker!, findRow(previous, 'rq-ts Worker'));
    compare(rqSimple!, bullInProcess);
    compare(rqSimple!, findRow(previous, 'rq-ts SimpleWorker'));
    compareCold(rqWorker, bullChild);
    compareCold(rqSimple, bullInProcess);
    for (const r of [rqWorker!, rqSimple!]) {
      const noop = r.comparisons.find((c) => c.peer === 'rq-ts Worker' || c.peer === 'rq-ts SimpleWorker');
      if (noop) noop.peer += ' with no-op jobs (scenario 1/2)';
    }
    return [rqWorker!, bullChild!, rqSimple!, bullInProcess!];
  },
};
