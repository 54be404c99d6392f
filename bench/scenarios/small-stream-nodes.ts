/**
 * 9. Scenarios 1 and 2's main rows again on a Redis set as docs/deployment.md recommends for rq:
 * `stream-node-max-bytes 512`. rq (1.12 on) and rq-ts write each job's result to a stream of its own,
 * and Redis 6.2+ gives a new stream a 4 KB node: ~15 µs of Redis per job and ~4 KB of memory per
 * finished job at the default of 4096. BullMQ runs on the same setting, so both sides are measured
 * on one Redis configuration; the setting is put back after every round.
 */
import { runBullmqRound } from '../bullmq.js';
import { scaled, type BenchContext } from '../context.js';
import { compare, compareCold } from '../report.js';
import { runRqRound, type RoundResult } from '../rq-workers.js';
import { latencyPerRound, measureAll, NODE_WARMUP, rowsOf, type Scenario } from './common.js';

const SETTING = 'stream-node-max-bytes';
const VALUE = '512';
const SW = `rq-ts SimpleWorker, ${SETTING} ${VALUE}`;
const C1 = `BullMQ in-process, concurrency 1, ${SETTING} ${VALUE}`;
const W = `rq-ts Worker, ${SETTING} ${VALUE}`;
const CHILD = `BullMQ sandboxed, child process, ${SETTING} ${VALUE}`;

/** Runs one round with the setting applied to the bench's Redis, and puts the old value back. */
async function withSmallNodes(ctx: BenchContext, round: () => Promise<RoundResult>): Promise<RoundResult> {
  const admin = ctx.redis.client();
  try {
    const [, old] = (await admin.config('GET', SETTING)) as [string, string];
    await admin.config('SET', SETTING, VALUE);
    try {
      return await round();
    } finally {
      await admin.config('SET', SETTING, old);
    }
  } finally {
    admin.disconnect();
  }
}

export const smallStreamNodes: Scenario = {
  id: '9',
  title: `9. ${SETTING} ${VALUE} (the Redis setting docs/deployment.md recommends for rq), no-op jobs`,
  async run(ctx) {
    const latencySamples = latencyPerRound(ctx);
    const sw = { workerClass: 'SimpleWorker', jobs: scaled(ctx, 4000), warmup: NODE_WARMUP, latencySamples } as const;
    const w = { workerClass: 'Worker', jobs: scaled(ctx, 5000), warmup: NODE_WARMUP, latencySamples } as const;
    const rows = await measureAll(ctx, this.title, [
      { system: SW, worker: () => withSmallNodes(ctx, () => runRqRound(ctx, { system: 'rq-ts', ...sw })) },
      { system: C1, worker: () => withSmallNodes(ctx, () => runBullmqRound(ctx, { mode: 'inprocess', concurrency: 1, jobs: sw.jobs, warmup: NODE_WARMUP, latencySamples })) },
      { system: W, worker: () => withSmallNodes(ctx, () => runRqRound(ctx, { system: 'rq-ts', ...w })) },
      { system: CHILD, worker: () => withSmallNodes(ctx, () => runBullmqRound(ctx, { mode: 'sandbox-process', concurrency: 1, jobs: w.jobs, warmup: NODE_WARMUP, latencySamples })) },
    ]);
    const [swRow, c1Row, wRow, childRow] = rowsOf(rows, SW, C1, W, CHILD);
    // The targets of scenarios 1 and 2.
    compare(swRow!, c1Row, 1.5);
    compare(wRow!, childRow, 2);
    compareCold(swRow, c1Row);
    compareCold(wRow, childRow);
    return rows;
  },
};
