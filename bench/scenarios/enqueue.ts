/**
 * 3. Enqueueing one job at a time (each awaited) and 4. in bulk (chunks of 1000), measured in this
 * process against a fresh database; python-rq's q.enqueue loop is timed inside Python.
 */
import { Queue } from '../../lib/index.js';
import { bullmqQueue } from '../bullmq.js';
import { scaled, type BenchContext } from '../context.js';
import { pythonEnqueueRate } from '../python.js';
import { compare } from '../report.js';
import { measureAll, type Scenario } from './common.js';

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
    const [rq, bull, py] = await measureAll(ctx, this.title, [
      { system: 'rq-ts queue.enqueue', rate: () => withRqQueue(ctx, (q) => timed(jobs, () => q.enqueue('bench.jobs.noop'))) },
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
    compare(rq!, bull, 1);
    compare(rq!, py);
    return [rq!, bull!, py!];
  },
};

export const enqueueBulk: Scenario = {
  id: '4',
  title: '4. bulk enqueue, chunks of 1000',
  async run(ctx) {
    const chunks = Math.max(1, Math.round(scaled(ctx, 20_000, 1000) / 1000));
    const rqCalls = Array.from({ length: 1000 }, () => ({ func: 'bench.jobs.noop' }));
    const bullJobs = Array.from({ length: 1000 }, () => ({ name: 'noop', data: {} }));
    const [rq, bull] = await measureAll(ctx, this.title, [
      {
        system: 'rq-ts queue.enqueueMany',
        rate: () =>
          withRqQueue(ctx, async (q) => {
            for (let i = 0; i < 3; i++) await q.enqueueMany(rqCalls); // warm-up (script loading, JIT)
            const t = performance.now();
            for (let i = 0; i < chunks; i++) await q.enqueueMany(rqCalls);
            return (chunks * 1000 * 1000) / (performance.now() - t);
          }),
      },
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
    compare(rq!, bull, 1);
    return [rq!, bull!];
  },
};
