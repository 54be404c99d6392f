import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { Queue, RqError, SimpleWorker, typedQueue, type TypedJob } from '../../lib/index.js';
import { useRedis } from '../helpers/redis.js';
import { collectingLogger, repoRoot } from '../helpers/worker.js';

type Tasks = typeof import('../fixtures/tasks.js');

let redis: Redis;

useRedis((_server, r) => {
  redis = r;
});

/**
 * Compiled by the normal build and never run: each `@ts-expect-error` must meet an error, else the
 * build fails ("Unused '@ts-expect-error' directive"), so every wrong call below is one tsc refuses.
 */
export async function typeChecks(q: ReturnType<typeof typedQueue<Tasks>>): Promise<void> {
  const job: TypedJob<number> = await q.enqueue('add', 2, 3);
  const sum: number = await job.waitForResult({ timeout: 5 });
  const maybe: number | null = await job.returnValue();
  // Async tasks: the awaited value.
  const slow: number = await (await q.enqueue('slowAdd', 1, 2)).waitForResult();
  // Optional parameters stay optional.
  await q.enqueue('slowAdd', 1, 2, 10);
  await q.enqueueCall('add', [1, 2], { timeout: 30, resultTtl: 60 });
  await q.enqueueIn(10, 'add', 1, 2);
  void [sum, maybe, slow];

  // @ts-expect-error a typo in the function name
  await q.enqueue('ad', 2, 3);
  // @ts-expect-error a string where add takes a number
  await q.enqueue('add', 'x', 3);
  // @ts-expect-error an object where add takes a number
  await q.enqueue('add', 2, {});
  // @ts-expect-error a missing argument
  await q.enqueue('add', 2);
  // @ts-expect-error one argument too many
  await q.enqueue('add', 2, 3, 4);
  // @ts-expect-error the return value is a number, not a string
  const wrong: string = await job.waitForResult();
  // @ts-expect-error returnValue() is null until the job finished
  const notNull: number = await job.returnValue();
  // @ts-expect-error enqueueCall checks the argument list too
  await q.enqueueCall('add', ['1', 2]);
  // @ts-expect-error not an exported function of the module
  await q.enqueue('default');
  void [wrong, notNull];
}

describe('typedQueue', () => {
  it("enqueues rq's dotted path, and the job's result comes back typed", async () => {
    const q = typedQueue<Tasks>(new Queue('typed', { connection: redis }), 'test.fixtures.tasks');
    const job = await q.enqueue('add', 2, 3);
    assert.equal(job.funcName, 'test.fixtures.tasks.add');
    assert.deepEqual(job.args, [2, 3]);
    assert.equal(q.path('slowAdd'), 'test.fixtures.tasks.slowAdd');
    const later = await q.enqueueCall('slowAdd', [4, 5, 1], { jobId: 'typed-slow', resultTtl: 60 });
    assert.equal(later.id, 'typed-slow');
    assert.equal(later.resultTtl, 60);
    await new SimpleWorker(['typed'], { connection: redis, installSignalHandlers: false, paths: [repoRoot], logger: collectingLogger() }).work({ burst: true });
    const sum: number = await job.waitForResult({ timeout: 10 });
    assert.equal(sum, 5);
    assert.equal(await later.returnValue(), 9);
  });

  it('refuses a module path that is not a dotted path, saying what to give', () => {
    assert.throws(
      () => typedQueue<Tasks>(new Queue('typed', { connection: redis }), './tasks.js'),
      (err: unknown) => err instanceof RqError && err.message === `typedQueue: module path "./tasks.js" is not valid; give the dotted path the worker imports, e.g. 'tasks' or 'app.jobs'`,
    );
  });
});
