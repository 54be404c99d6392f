import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import {
  Job,
  JobFailedError,
  NoSuchJobError,
  Queue,
  ResultTimeoutError,
  RqError,
  SimpleWorker,
  type CompletedEvent,
  type FailedEvent,
  type ProgressEvent,
  type QueueEvents,
} from '../../lib/index.js';
import { useRedis, waitFor } from '../helpers/redis.js';
import { collectingLogger, repoRoot, task } from '../helpers/worker.js';

let redis: Redis;

useRedis((_server, r) => {
  redis = r;
});

const queue = (name = 'q'): Queue => new Queue(name, { connection: redis });

function worker(queues: string[] = ['q']): SimpleWorker {
  return new SimpleWorker(queues, { connection: redis, installSignalHandlers: false, paths: [repoRoot], logger: collectingLogger() });
}

/** Whether a promise has settled yet (without waiting for it). */
async function settled(p: Promise<unknown>): Promise<boolean> {
  const marker = Symbol('pending');
  return (await Promise.race([p.then(() => true, () => true), Promise.resolve(marker)])) !== marker;
}

describe('job.waitForResult', () => {
  it('resolves with the return value of a job that ends after the wait began', async () => {
    const job = await queue().enqueue(task('add'), 2, 3);
    const waiting = job.waitForResult({ timeout: 20 });
    // The blocking read is in place before the worker runs.
    await waitFor(async () => String(await redis.call('CLIENT', 'LIST')).includes('cmd=xread'), 'the XREAD BLOCK of waitForResult');
    assert.equal(await settled(waiting), false);
    await worker().work({ burst: true });
    assert.equal(await waiting, 5);
  });

  it('settles at once for a job that has already ended, and closes its reading connection', async () => {
    const job = await queue().enqueue(task('add'), 20, 22);
    await worker().work({ burst: true });
    const clients = async (): Promise<number> => String(await redis.call('CLIENT', 'LIST')).trim().split('\n').length;
    const before = await clients();
    const started = Date.now();
    assert.equal(await job.waitForResult({ timeout: 5 }), 42);
    assert.ok(Date.now() - started < 1000, 'no blocking read for an ended job');
    await waitFor(async () => (await clients()) <= before, 'no connection left behind');
    // A fresh object of the same job reads it the same way.
    assert.equal(await (await Job.fetch(job.id, { connection: redis })).waitForResult(), 42);
  });

  it("rejects with JobFailedError carrying the job's traceback when it fails", async () => {
    const job = await queue().enqueue(task('boom'), 'the reason');
    const outcome = job.waitForResult({ timeout: 20 }).then(
      () => assert.fail('resolved'),
      (e: unknown) => e,
    );
    await worker().work({ burst: true });
    const err = await outcome;
    assert.ok(err instanceof JobFailedError, String(err));
    assert.equal(err.jobId, job.id);
    assert.equal(err.status, 'failed');
    assert.match(err.excString ?? '', /the reason/);
    assert.match(err.message, new RegExp(`^Job ${job.id} failed: .*the reason`));
  });

  it('rejects with ResultTimeoutError naming the job and the queue when nothing runs it', async () => {
    const job = await queue('nobody').enqueue(task('add'), 1, 1);
    const started = Date.now();
    await assert.rejects(job.waitForResult({ timeout: 0.3 }), (err: unknown) => {
      assert.ok(err instanceof ResultTimeoutError, String(err));
      assert.match(err.message, new RegExp(`No result for job ${job.id} within 0.3 s \\(status: queued\\); is a worker listening on queue 'nobody'\\?`));
      return true;
    });
    const took = Date.now() - started;
    assert.ok(took >= 250 && took < 3000, `took ${took} ms`);
  });

  it('waits past a retry, and settles with the run that ends', async () => {
    const job = await queue().enqueueCall({ func: task('boom'), retry: { max: 1 } });
    const outcome = assert.rejects(job.waitForResult({ timeout: 20 }), JobFailedError);
    await worker().work({ burst: true });
    await outcome;
    assert.equal(await redis.hget(job.key, 'retries_left'), '0', 'the job ran twice');
  });

  it('rejects with NoSuchJobError when the job is deleted while awaited, and refuses a bad timeout', async () => {
    const job = await queue('nobody').enqueue(task('add'), 1, 1);
    const waiting = job.waitForResult({ timeout: 20 });
    await redis.del(job.key);
    await assert.rejects(waiting, NoSuchJobError);
    await assert.rejects(job.waitForResult({ timeout: -1 }), (err: unknown) => err instanceof RqError && /timeout -1 is not valid; give seconds > 0/.test(err.message));
  });
});

describe('job.updateProgress and QueueEvents', () => {
  async function collect(events: QueueEvents): Promise<{ completed: CompletedEvent[]; failed: FailedEvent[]; progress: ProgressEvent[] }> {
    const seen = { completed: [] as CompletedEvent[], failed: [] as FailedEvent[], progress: [] as ProgressEvent[] };
    events.on('completed', (e) => seen.completed.push(e));
    events.on('failed', (e) => seen.failed.push(e));
    events.on('progress', (e) => seen.progress.push(e));
    await events.ready;
    return seen;
  }

  it('reports progress, then completed, of a running job; and failed', async () => {
    const q = queue();
    const before = await q.enqueue(task('add'), 1, 1);
    await worker().work({ burst: true });
    const events = q.events({ interval: 50 });
    try {
      const seen = await collect(events);
      const job = await q.enqueue(task('progressSteps'), 'gate', 2);
      const failing = await q.enqueue(task('boom'), 'progress and fail');
      const running = worker().work({ burst: true });
      await waitFor(() => seen.progress.some((e) => e.jobId === job.id && e.progress === 1), 'progress 1');
      assert.equal((await Job.fetch(job.id, { connection: redis })).meta.progress, 1, 'kept in meta.progress');
      await redis.set('gate', '1');
      await waitFor(() => seen.progress.some((e) => e.jobId === job.id && e.progress === 2), 'progress 2');
      await redis.set('gate', '2');
      await running;
      await waitFor(() => seen.completed.length > 0 && seen.failed.length > 0, 'completed and failed events');
      assert.deepEqual(seen.completed, [{ jobId: job.id, returnValue: 2 }]);
      assert.equal(seen.failed.length, 1);
      assert.equal(seen.failed[0]!.jobId, failing.id);
      assert.match(seen.failed[0]!.excString ?? '', /progress and fail/);
      assert.deepEqual(
        seen.progress.filter((e) => e.jobId === job.id).map((e) => e.progress),
        [1, 2],
        'each progress once',
      );
      assert.ok(!seen.completed.some((e) => e.jobId === before.id), 'what ended before the first look is not replayed');
      // The meta survives the end of the job, for Python's job.meta['progress'] too.
      assert.equal((await Job.fetch(job.id, { connection: redis })).meta.progress, 2);
    } finally {
      await events.close();
    }
  });

  it('reports a job that starts and ends between two looks, from the registry', async () => {
    const q = queue();
    const events = q.events({ interval: 1000 });
    try {
      const seen = await collect(events);
      const job = await q.enqueue(task('add'), 3, 4);
      await worker().work({ burst: true });
      await waitFor(() => seen.completed.length === 1, 'completed event', 5000);
      assert.deepEqual(seen.completed, [{ jobId: job.id, returnValue: 7 }]);
    } finally {
      await events.close();
    }
  });

  it('updateProgress refuses a value the serializer cannot carry and leaves meta as it was', async () => {
    const job = await queue().enqueueCall({ func: task('add'), args: [1, 2], meta: { owner: 'me' } });
    await assert.rejects(job.updateProgress(() => 1), RqError);
    assert.deepEqual(job.meta, { owner: 'me' });
    await job.updateProgress({ done: 3, of: 10 });
    assert.deepEqual((await Job.fetch(job.id, { connection: redis })).meta, { owner: 'me', progress: { done: 3, of: 10 } });
  });
});
