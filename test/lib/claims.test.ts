import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { Job, Queue, SimpleWorker, type RqPlugin } from '../../lib/index.js';
import { useRedis } from '../helpers/redis.js';
import { collectingLogger, repoRoot, task } from '../helpers/worker.js';

let redis: Redis;

useRedis((_server, r) => {
  redis = r;
});

describe('claiming jobs', () => {
  it('a busy worker needs one script call per job: the outcome script claims the next job', async () => {
    const q = new Queue('one-rtt', { connection: redis });
    const jobs = await q.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ func: task('add'), args: [i, 1] })));
    const dup = redis.duplicate();
    const monitor = await dup.monitor();
    const calls: string[] = [];
    monitor.on('monitor', (_t: string, args: string[]) => {
      if (/^eval(sha)?$/i.test(args[0] ?? '')) calls.push(args[0]!);
    });
    const worker = new SimpleWorker(['one-rtt'], { connection: redis, installSignalHandlers: false, paths: [repoRoot], logger: collectingLogger() });
    await worker.work({ burst: true });
    await new Promise((r) => setTimeout(r, 100));
    monitor.disconnect();
    dup.disconnect();
    for (const job of jobs) assert.equal(await job.getStatus(), 'finished');
    // 20 outcome scripts (each also claiming the next job), 1 take at start; maintenance adds none
    // with empty registries. Without the claim-ahead this would be 20 more.
    assert.ok(calls.length <= 23, `${calls.length} script calls for 20 jobs`);
  });

  it('a job claimed ahead is given back to the head of its queue when the worker stops', async () => {
    const q = new Queue('ahead', { connection: redis });
    const [first, second, third] = await q.enqueueMany([
      { func: task('add'), args: [1, 1] },
      { func: task('add'), args: [2, 2] },
      { func: task('add'), args: [3, 3] },
    ]);
    // Asks the worker to stop right after the first job's outcome (and the claim of the next) is recorded.
    const stopAfterFirst: RqPlugin = {
      apply(w) {
        w.hooks.cleanup.tapPromise({ name: 'StopAfterFirst', stage: 50 }, async () => w.requestStop('test stop'));
      },
    };
    const worker = new SimpleWorker(['ahead'], {
      connection: redis,
      installSignalHandlers: false,
      paths: [repoRoot],
      logger: collectingLogger(),
      plugins: [stopAfterFirst],
    });
    await worker.work();
    assert.equal(await first!.getStatus(), 'finished');
    const back = await Job.fetch(second!.id, { connection: redis });
    assert.equal(back.status, 'queued');
    assert.equal(back.workerName, null);
    assert.deepEqual(await q.jobIds(), [second!.id, third!.id], 'back at the head, order kept');
    assert.equal(await redis.zcard('rq:wip:ahead'), 0);
    assert.equal(await redis.hget(worker.key, 'current_job'), null);
  });
});
