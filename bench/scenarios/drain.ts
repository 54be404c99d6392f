/**
 * 7. Draining a long queue costs the same per job as a short one: 100,000 queued jobs vs 1,000
 * (SimpleWorker). Redis's list ops are O(1) and its sorted-set registries O(log n), so the target is
 * "flat within 20%". Both runs first drain the same 2,000 warm-up jobs (queued ahead of the measured
 * ones), so the short run does not pay V8's JIT warm-up that the long one amortizes.
 */
import { scaled } from '../context.js';
import type { Row } from '../report.js';
import { runRqRound } from '../rq-workers.js';
import { measureWorker, type Scenario } from './common.js';

export const DRAIN_WARMUP = 2000;

function withPerJob(row: Row): Row {
  if (row.jobsPerSec !== null) row.perJobUs = 1e6 / row.jobsPerSec;
  row.notes.push(`after ${DRAIN_WARMUP.toLocaleString('en-US')} warm-up jobs queued ahead`);
  return row;
}

export const drain: Scenario = {
  id: '7',
  title: '7. drain 100,000 vs 1,000 queued',
  async run(ctx) {
    const s = this.title;
    const small = scaled(ctx, 1000);
    const large = scaled(ctx, 100_000, 1000);
    const short = withPerJob(
      await measureWorker(ctx, s, `rq-ts SimpleWorker, ${small.toLocaleString('en-US')} queued`, () =>
        runRqRound(ctx, { system: 'rq-ts', workerClass: 'SimpleWorker', jobs: small, warmup: DRAIN_WARMUP }),
      ),
    );
    // A round of the long queue takes about a minute at 2,000 jobs/s: further rounds only while this stays under 90 s.
    const long = withPerJob(
      await measureWorker(
        ctx,
        s,
        `rq-ts SimpleWorker, ${large.toLocaleString('en-US')} queued`,
        () => runRqRound(ctx, { system: 'rq-ts', workerClass: 'SimpleWorker', jobs: large, warmup: DRAIN_WARMUP, timeoutMs: 300_000 }),
        90_000,
      ),
    );
    if (short.perJobUs !== undefined && long.perJobUs !== undefined) {
      const ratio = long.perJobUs / short.perJobUs;
      long.comparisons.push({ peer: `per-job cost of ${small.toLocaleString('en-US')} queued`, ratio, target: { op: '<=', value: 1.2 }, pass: ratio <= 1.2 });
    }
    return [short, long];
  },
};
