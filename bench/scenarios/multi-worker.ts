/**
 * 6. Four worker processes on one queue (started from the CLI at the same time): total jobs/s; and
 * twenty SimpleWorkers, for the Redis CPU per job that sizing a fleet needs (docs/deployment.md).
 * The window opens once every worker has run its warm-up jobs, so the measured jobs must cover how
 * unevenly four workers share a queue: 4 Workers got 5,204-6,166 of 23,000 jobs each (a spread of
 * ~960), more than the 3,000 measured jobs left room for, and the round had no window at all.
 */
const MEASURED = 12_000;
/** The fleet row: 20 processes on 2 cores, so each warms up on fewer jobs (20 x 5,000 would take minutes). */
const FLEET = 20;
const FLEET_WARMUP = 500;
import { cpus } from 'node:os';
import { scaled } from '../context.js';
import { compare } from '../report.js';
import { runRqRound } from '../rq-workers.js';
import { findRow, measureAll, NODE_WARMUP, type Scenario } from './common.js';

export const multiWorker: Scenario = {
  id: '6',
  title: `6. 4 (and ${FLEET}) worker processes, one queue`,
  async run(ctx, previous) {
    const [simple, horse, fleet] = await measureAll(ctx, this.title, [
      {
        system: '4 x rq-ts SimpleWorker',
        worker: () => runRqRound(ctx, { system: 'rq-ts', workerClass: 'SimpleWorker', workers: 4, jobs: scaled(ctx, MEASURED), warmup: NODE_WARMUP }),
      },
      {
        system: '4 x rq-ts Worker',
        worker: () => runRqRound(ctx, { system: 'rq-ts', workerClass: 'Worker', workers: 4, jobs: scaled(ctx, MEASURED), warmup: NODE_WARMUP }),
      },
      {
        system: `${FLEET} x rq-ts SimpleWorker`,
        worker: () => runRqRound(ctx, { system: 'rq-ts', workerClass: 'SimpleWorker', workers: FLEET, jobs: scaled(ctx, MEASURED), warmup: FLEET_WARMUP }),
      },
    ]);
    compare(simple!, findRow(previous, 'rq-ts SimpleWorker'));
    compare(horse!, findRow(previous, 'rq-ts Worker'));
    compare(fleet!, findRow(previous, 'rq-ts SimpleWorker'));
    for (const r of [simple!, horse!, fleet!]) {
      const c = r.comparisons[0];
      if (c) c.peer = `a single ${c.peer} (scaling, ${cpus().length} cpus)`;
      const n = r === fleet ? FLEET : 4;
      r.notes.push(`jobs/s counted while all ${n} run; RSS: the ${n} workers${r === horse ? ' + their 4 horses' : ''}`);
    }
    fleet!.notes.push(`${FLEET_WARMUP} warm-up jobs per worker; Redis CPU per job is what sizing a fleet needs`);
    return [simple!, horse!, fleet!];
  },
};
