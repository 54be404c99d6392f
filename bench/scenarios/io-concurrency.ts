/**
 * 8. I/O-bound jobs (each awaits 10 ms, a stand-in for an HTTP call or a query) at concurrency 50:
 * `rq worker --concurrency 50` (the default Worker: 50 jobs at once in its one horse) and SimpleWorker
 * alike, vs a BullMQ Worker with `concurrency: 50` (in-process processor). The target (#17):
 * rq-ts >= BullMQ jobs/s. At 10 ms a job and 50 at once, 5,000 jobs/s is the ceiling for both.
 */
import { runBullmqRound } from '../bullmq.js';
import { scaled } from '../context.js';
import { compare } from '../report.js';
import { runRqRound } from '../rq-workers.js';
import { measureAll, NODE_WARMUP, rowsOf, type Scenario } from './common.js';

const WAIT_MS = 10;
const CONCURRENCY = 50;
const RQ = `rq-ts Worker --concurrency ${CONCURRENCY}`;
const SIMPLE = `rq-ts SimpleWorker --concurrency ${CONCURRENCY}`;
const BULL = `BullMQ concurrency: ${CONCURRENCY}`;

export const ioConcurrency: Scenario = {
  id: '8',
  title: `8. I/O-bound jobs (await ${WAIT_MS} ms), concurrency ${CONCURRENCY}`,
  async run(ctx) {
    const jobs = scaled(ctx, 10_000);
    const rq = { system: 'rq-ts', jobs, warmup: NODE_WARMUP, waitMs: WAIT_MS, concurrency: CONCURRENCY } as const;
    const rows = await measureAll(ctx, this.title, [
      { system: RQ, worker: () => runRqRound(ctx, { ...rq, workerClass: 'Worker' }) },
      { system: SIMPLE, worker: () => runRqRound(ctx, { ...rq, workerClass: 'SimpleWorker' }) },
      { system: BULL, worker: () => runBullmqRound(ctx, { mode: 'inprocess', concurrency: CONCURRENCY, jobs, warmup: NODE_WARMUP, waitMs: WAIT_MS }) },
    ]);
    const [worker, simple, bull] = rowsOf(rows, RQ, SIMPLE, BULL);
    compare(worker!, bull, 1);
    compare(simple!, bull, 1);
    return rows;
  },
};
