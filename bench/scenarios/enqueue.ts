/**
 * 3. Enqueueing one job at a time (each awaited) and 4. in bulk (chunks of 1000), measured in this
 * process against a fresh database; python-rq's q.enqueue loop is timed inside Python. The
 * BENCH_BASELINE build's Queue is imported from its dist/lib/index.js and timed here too.
 */
import { Queue } from '../../lib/index.js';
import type { BaselineQueue } from '../baseline.js';
import { bullmqQueue } from '../bullmq.js';
import { scaled, type BenchContext } from '../context.js';
import { pythonEnqueueRate } from '../python.js';
import { compare } from '../report.js';
import { baselineSystem, measureAll, rowsOf, type Entry, type Scenario } from './common.js';

/** Untimed calls first: V8 compiles the enqueue path of each library before it is timed. */
const WARMUP = 500;

/** Times `count` calls of `enqueue` (after WARMUP untimed ones): jobs per second. */
async function timed(count: number, enqueue: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < WARMUP; i++) await enqueue(i);
  const t = performance.now();
  for (let i = 0; i < count; i++) await enqueue(i);
  return (count * 1000) / (performance.now() - t);
}

async function withRqQueue(ctx: BenchContext, use: (queue: Queue) => Promise<number>): Promise<number> {
  await ctx.redis.flush();
  const connection = ctx.redis.client();
  try {
    return await use(new Queue('bench', { connection }));
  } finally {
    connection.disconnect();
  }
}

async function withBaselineQueue(ctx: BenchContext, use: (queue: BaselineQueue) => Promise<number>): Promise<number> {
  await ctx.redis.flush();
  const lib = await ctx.baseline!.lib();
  const connection = lib.connect(ctx.redis.url);
  try {
    return await use(new lib.Queue('bench', { connection }));
  } finally {
    connection.disconnect();
  }
}

/** The baseline's entry: none without BENCH_BASELINE. */
function baselineRate(ctx: BenchContext, what: string, use: (queue: BaselineQueue) => Promise<number>): Entry[] {
  return ctx.baseline ? [{ system: baselineSystem(ctx, what), rate: () => withBaselineQueue(ctx, use) }] : [];
}

async function withBullQueue(ctx: BenchContext, use: (queue: ReturnType<typeof bullmqQueue>) => Promise<number>): Promise<number> {
  await ctx.redis.flush();
  const queue = bullmqQueue(ctx);
  try {
    await queue.waitUntilReady();
    return await use(queue);
  } finally {
    await queue.close();
  }
}

export const enqueueOneByOne: Scenario = {
  id: '3',
  title: '3. enqueue one by one (awaited)',
  async run(ctx) {
    const jobs = scaled(ctx, 3000);
    const python = ctx.python;
    const rows = await measureAll(ctx, this.title, [
      { system: 'rq-ts queue.enqueue', rate: () => withRqQueue(ctx, (q) => timed(jobs, () => q.enqueue('bench.jobs.noop'))) },
      ...baselineRate(ctx, 'queue.enqueue', (q) => timed(jobs, () => q.enqueue('bench.jobs.noop'))),
      { system: 'BullMQ queue.add', rate: () => withBullQueue(ctx, (q) => timed(jobs, () => q.add('noop', {}))) },
      python
        ? {
            system: 'python-rq q.enqueue',
            rate: async () => {
              await ctx.redis.flush();
              return pythonEnqueueRate(python, ctx.redis.url, scaled(ctx, 1000), WARMUP);
            },
          }
        : { system: 'python-rq q.enqueue', skipped: 'python-rq not installed' },
    ]);
    const [rq, base, bull, py] = rowsOf(rows, 'rq-ts queue.enqueue', baselineSystem(ctx, 'queue.enqueue'), 'BullMQ queue.add', 'python-rq q.enqueue');
    compare(rq!, bull, 1);
    compare(rq!, py);
    compare(rq!, base);
    return rows;
  },
};

export const enqueueBulk: Scenario = {
  id: '4',
  title: '4. bulk enqueue, chunks of 1000',
  async run(ctx) {
    const chunks = Math.max(1, Math.round(scaled(ctx, 20_000, 1000) / 1000));
    const rqCalls = Array.from({ length: 1000 }, () => ({ func: 'bench.jobs.noop' }));
    const bullJobs = Array.from({ length: 1000 }, () => ({ name: 'noop', data: {} }));
    const enqueueMany = async (q: Pick<BaselineQueue, 'enqueueMany'>): Promise<number> => {
      for (let i = 0; i < 3; i++) await q.enqueueMany(rqCalls); // warm-up (script loading, JIT)
      const t = performance.now();
      for (let i = 0; i < chunks; i++) await q.enqueueMany(rqCalls);
      return (chunks * 1000 * 1000) / (performance.now() - t);
    };
    const rows = await measureAll(ctx, this.title, [
      { system: 'rq-ts queue.enqueueMany', rate: () => withRqQueue(ctx, enqueueMany) },
      ...baselineRate(ctx, 'queue.enqueueMany', enqueueMany),
      {
        system: 'BullMQ queue.addBulk',
        rate: () =>
          withBullQueue(ctx, async (q) => {
            for (let i = 0; i < 3; i++) await q.addBulk(bullJobs);
            const t = performance.now();
            for (let i = 0; i < chunks; i++) await q.addBulk(bullJobs);
            return (chunks * 1000 * 1000) / (performance.now() - t);
          }),
      },
    ]);
    const [rq, base, bull] = rowsOf(rows, 'rq-ts queue.enqueueMany', baselineSystem(ctx, 'queue.enqueueMany'), 'BullMQ queue.addBulk');
    compare(rq!, bull, 1);
    compare(rq!, base);
    return rows;
  },
};
