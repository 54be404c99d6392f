import assert from 'node:assert/strict';
import { deflateSync, inflateSync } from 'node:zlib';
import { describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import {
  CanceledJobRegistry,
  DeferredJobRegistry,
  FailedJobRegistry,
  FinishedJobRegistry,
  InvalidOperationError,
  Job,
  JobStatus,
  NoSuchJobError,
  Queue,
  ScheduledJobRegistry,
  StartedJobRegistry,
  epochSeconds,
  type AbandonOutcome,
  type BaseRegistry,
  type RegistryOptions,
} from '../../lib/index.js';
import { useRedis } from '../helpers/redis.js';

let redis: Redis;

useRedis((_server, r) => {
  redis = r;
});

type RegistryClass = new (queue: string, options: RegistryOptions) => BaseRegistry;
const REGISTRIES: [string, RegistryClass, string][] = [
  ['StartedJobRegistry', StartedJobRegistry, 'wip'],
  ['FinishedJobRegistry', FinishedJobRegistry, 'finished'],
  ['FailedJobRegistry', FailedJobRegistry, 'failed'],
  ['DeferredJobRegistry', DeferredJobRegistry, 'deferred'],
  ['ScheduledJobRegistry', ScheduledJobRegistry, 'scheduled'],
  ['CanceledJobRegistry', CanceledJobRegistry, 'canceled'],
];

const DEFAULT_FAILURE_TTL = 31536000;
const MOVED = /^Moved to FailedJobRegistry at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/;

function assertNear(actual: number, expected: number, what: string, slack = 2): void {
  assert.ok(Math.abs(actual - expected) <= slack, `${what}: ${actual} is not within ${slack} of ${expected}`);
}

/** A job that a worker took from its queue (as after LPOP), with status started. */
async function startedJob(queue: Queue, options: Parameters<Queue['enqueueCall']>[0] = { func: 'tasks.work' }): Promise<Job> {
  const job = await queue.enqueueCall(options);
  await redis.lrem(queue.key, 0, job.id);
  await redis.hset(job.key, { status: 'started', started_at: '2026-01-01T00:00:00.000000Z', worker_name: 'dead-worker' });
  return job;
}

for (const [name, Registry, kind] of REGISTRIES) {
  describe(name, () => {
    it(`is the sorted set rq:${kind}:<queue>`, async () => {
      const registry = new Registry('q', { connection: redis });
      assert.equal(registry.key, `rq:${kind}:q`);
      assert.equal(registry.name, 'q');
      await registry.add('job-1', 100);
      assert.equal(await redis.type(`rq:${kind}:q`), 'zset');
      assert.deepEqual(await redis.keys('*'), [`rq:${kind}:q`]);
    });

    it('add scores now+ttl, and +inf for ttl -1', async () => {
      const registry = new Registry('q', { connection: redis });
      const now = epochSeconds();
      await registry.add('in-100', 100);
      await registry.add('forever', -1);
      const job = new Job('as-object', { connection: redis });
      await registry.add(job, 50);
      assertNear(Number(await redis.zscore(registry.key, 'in-100')), now + 100, 'ttl 100');
      assertNear(Number(await redis.zscore(registry.key, 'as-object')), now + 50, 'ttl 50');
      assert.equal(await redis.zscore(registry.key, 'forever'), 'inf');
      const pipe = redis.multi();
      await registry.add('piped', 10, pipe);
      assert.equal(await redis.zscore(registry.key, 'piped'), null, 'nothing sent before exec');
      await pipe.exec();
      assertNear(Number(await redis.zscore(registry.key, 'piped')), now + 10, 'piped');
    });

    it('count, getJobIds (score order, ranges), contains, remove', async () => {
      const registry = new Registry('q', { connection: redis });
      await registry.add('c', -1);
      await registry.add('a', 100);
      await registry.add('b', 200);
      assert.equal(await registry.count(), 3);
      assert.deepEqual(await registry.getJobIds(), ['a', 'b', 'c']);
      assert.deepEqual(await registry.getJobIds(1, 1), ['b']);
      assert.deepEqual(await registry.getJobIds(0, 1), ['a', 'b']);
      assert.equal(await registry.contains('a'), true);
      assert.equal(await registry.contains(new Job('b', { connection: redis })), true);
      assert.equal(await registry.contains('zzz'), false);
      assert.equal(await registry.remove('a'), 1);
      assert.equal(await registry.remove('a'), 0);
      assert.equal(await registry.contains('a'), false);
      assert.deepEqual(await registry.getJobIds(), ['b', 'c']);
      assert.equal(await registry.count(), 2);
    });

    it('remove with deleteJob deletes the job too', async () => {
      const q = new Queue('q', { connection: redis });
      const job = await q.enqueue('tasks.x');
      const keep = await q.enqueue('tasks.y');
      const registry = new Registry('q', { connection: redis });
      await registry.add(job, 100);
      await registry.add(keep, 100);
      assert.equal(await registry.remove(job.id, { deleteJob: true }), 1);
      assert.equal(await redis.exists(job.key), 0);
      assert.equal(await registry.contains(job), false);
      assert.equal(await registry.remove(keep), 1);
      assert.equal(await redis.exists(keep.key), 1, 'without deleteJob the job stays');
    });
  });
}

describe('Finished and Failed cleanup', () => {
  for (const Registry of [FinishedJobRegistry, FailedJobRegistry]) {
    it(`${Registry.name} drops entries whose score has passed`, async () => {
      const registry = new Registry('q', { connection: redis });
      const now = epochSeconds();
      await redis.zadd(registry.key, now - 10, 'old', now + 100, 'new', '+inf', 'forever');
      assert.equal(await registry.count(false), 3, 'count(false) does not clean');
      assert.equal(await registry.count(), 2);
      assert.deepEqual(await redis.zrange(registry.key, '0', '-1'), ['new', 'forever']);
      await registry.cleanup(now + 200);
      assert.deepEqual(await redis.zrange(registry.key, '0', '-1'), ['forever'], '+inf never expires');
      await redis.zadd(registry.key, now - 1, 'old2');
      assert.deepEqual(await registry.getJobIds(), ['forever'], 'getJobIds cleans first');
    });
  }

  for (const Registry of [DeferredJobRegistry, ScheduledJobRegistry, CanceledJobRegistry]) {
    it(`${Registry.name} keeps entries whose score has passed (rq 1.13 never expires them)`, async () => {
      const registry = new Registry('q', { connection: redis });
      await redis.zadd(registry.key, epochSeconds() - 1000, 'past');
      await registry.cleanup();
      assert.equal(await registry.count(), 1);
      assert.deepEqual(await registry.getJobIds(), ['past']);
    });
  }

  it('ScheduledJobRegistry.getScheduledTime reads the score as a date', async () => {
    const registry = new ScheduledJobRegistry('q', { connection: redis });
    await redis.zadd(registry.key, 1700000000, 'later');
    assert.equal((await registry.getScheduledTime('later'))?.getTime(), 1700000000_000);
    assert.equal(await registry.getScheduledTime('nope'), null);
  });
});

describe('StartedJobRegistry cleanup', () => {
  it('moves an expired entry to the FailedJobRegistry (status failed, exc_info, failure TTL)', async () => {
    const q = new Queue('q', { connection: redis });
    const job = await startedJob(q);
    const live = await startedJob(q);
    const now = epochSeconds();
    await redis.zadd('rq:wip:q', now - 5, job.id, now + 100, live.id);
    const registry = new StartedJobRegistry('q', { connection: redis });
    const outcomes = await registry.cleanupExpired();
    assert.deepEqual([...outcomes], [[job.id, 'failed']]);

    assert.deepEqual(await redis.zrange('rq:wip:q', '0', '-1'), [live.id], 'the live entry stays');
    assertNear(Number(await redis.zscore('rq:failed:q', job.id)), now + DEFAULT_FAILURE_TTL, 'failed score');
    assert.equal(await redis.hget(job.key, 'status'), 'failed');
    assertNear(await redis.ttl(job.key), DEFAULT_FAILURE_TTL, 'job TTL');
    const fetched = await Job.fetch(job.id, { connection: redis });
    assert.equal(fetched.status, JobStatus.FAILED);
    assert.match(fetched.excInfo ?? '', MOVED);
    assert.match(inflateSync((await redis.hgetBuffer(job.key, 'exc_info'))!).toString(), MOVED, 'exc_info is zlib-compressed');
    assert.equal(await redis.hget(live.key, 'status'), 'started');
    assert.equal(await redis.llen('rq:queue:q'), 0, 'nothing requeued');
  });

  it("writes rq 2.x's failure Result; a 2.x member <id>:<execution> gets 2.x's wording and loses its execution keys", async () => {
    const q = new Queue('q', { connection: redis });
    const bare = await startedJob(q);
    const two = await startedJob(q);
    await redis.zrem('rq:wip:q', two.id);
    const member = `${two.id}:0123abcd`;
    await redis.hset(`rq:execution:${member}`, 'id', '0123abcd', 'created_at', '1', 'last_heartbeat', '1');
    await redis.zadd(`rq:executions:${two.id}`, epochSeconds() + 60, '0123abcd', epochSeconds() + 60, 'older');
    await redis.zadd('rq:wip:q', epochSeconds() - 5, bare.id, epochSeconds() - 5, member);
    const outcomes = await new StartedJobRegistry('q', { connection: redis }).cleanupExpired();
    assert.deepEqual(new Map(outcomes), new Map([[bare.id, 'failed'], [two.id, 'failed']]));

    const [bareResult] = await (await Job.fetch(bare.id, { connection: redis })).results();
    assert.match(bareResult?.excString ?? '', MOVED);
    assert.equal(bareResult?.workerName, '', "a cleanup's Result names no worker (rq 2.x)");
    assert.equal(bareResult?.isSuccessful, false);
    const twoJob = await Job.fetch(two.id, { connection: redis });
    assert.match(twoJob.excInfo ?? '', /^Moved to FailedJobRegistry, due to AbandonedJobError, at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\+00:00$/);
    assert.equal(await redis.exists(`rq:execution:${member}`), 0);
    assert.deepEqual(await redis.zrange(`rq:executions:${two.id}`, '0', '-1'), ['older'], "only this run's execution goes");
    assert.equal(await redis.zcard('rq:wip:q'), 0);
  });

  it("uses the job's failure_ttl for the job TTL and failed score", async () => {
    const q = new Queue('q', { connection: redis });
    const job = await startedJob(q, { func: 'tasks.work', failureTtl: 900 });
    const now = epochSeconds();
    await redis.zadd('rq:wip:q', now - 5, job.id);
    await new StartedJobRegistry('q', { connection: redis }).cleanup();
    assertNear(Number(await redis.zscore('rq:failed:q', job.id)), now + 900, 'failed score');
    const ttl = await redis.ttl(job.key);
    assert.ok(ttl > 890 && ttl <= 900, `job TTL ${ttl}`);
  });

  it('count and getJobIds clean up first, as rq does', async () => {
    const q = new Queue('q', { connection: redis });
    const job = await startedJob(q);
    await redis.zadd('rq:wip:q', epochSeconds() - 1, job.id);
    const registry = new StartedJobRegistry('q', { connection: redis });
    assert.equal(await registry.count(false), 1);
    assert.equal(await registry.count(), 0);
    assert.equal(await new FailedJobRegistry('q', { connection: redis }).contains(job), true);
  });

  it('requeues an expired job with retries left and a 0 interval', async () => {
    const q = new Queue('q', { connection: redis });
    const job = await startedJob(q, { func: 'tasks.flaky', retry: { max: 2, interval: 0 } });
    assert.equal(await redis.hget(job.key, 'retries_left'), '2');
    assert.equal(await redis.hget(job.key, 'retry_intervals'), '[0]');
    await redis.zadd('rq:wip:q', epochSeconds() - 5, job.id);
    const outcomes = await new StartedJobRegistry('q', { connection: redis }).cleanupExpired();
    assert.equal(outcomes.get(job.id), 'requeued');
    assert.deepEqual(await redis.lrange('rq:queue:q', 0, -1), [job.id]);
    assert.equal(await redis.hget(job.key, 'retries_left'), '1');
    assert.equal(await redis.hget(job.key, 'status'), 'queued');
    assert.equal(await redis.zcard('rq:wip:q'), 0);
    assert.equal(await redis.zscore('rq:failed:q', job.id), null, 'not failed');
    assert.equal(await redis.ttl(job.key), -1, 'no failure TTL');
  });

  it('schedules an expired job with retries left and a 30 s interval', async () => {
    const q = new Queue('q', { connection: redis });
    const job = await startedJob(q, { func: 'tasks.flaky', retry: { max: 2, interval: [30] } });
    assert.equal(await redis.hget(job.key, 'retry_intervals'), '[30]');
    const now = epochSeconds();
    await redis.zadd('rq:wip:q', now - 5, job.id);
    const outcomes = await new StartedJobRegistry('q', { connection: redis }).cleanupExpired();
    assert.equal(outcomes.get(job.id), 'scheduled');
    assertNear(Number(await redis.zscore('rq:scheduled:q', job.id)), now + 30, 'scheduled time');
    assert.equal(await redis.hget(job.key, 'status'), 'scheduled');
    assert.equal(await redis.hget(job.key, 'retries_left'), '1');
    assert.equal(await redis.llen('rq:queue:q'), 0, 'not on the queue yet');
    assert.equal(await redis.zscore('rq:failed:q', job.id), null, 'not failed');
  });

  it('just removes an entry whose job hash is gone', async () => {
    await redis.zadd('rq:wip:q', epochSeconds() - 5, 'ghost');
    const outcomes = await new StartedJobRegistry('q', { connection: redis }).cleanupExpired();
    assert.equal(outcomes.get('ghost'), 'gone');
    assert.equal(await redis.zcard('rq:wip:q'), 0);
    assert.equal(await redis.exists('rq:job:ghost', 'rq:failed:q', 'rq:queue:q'), 0, 'no job hash or registry entry is created');
  });

  it("reads rq 2.x members '<id>:<execid>' as the job id and cleans them up", async () => {
    const q = new Queue('q', { connection: redis });
    const running = await startedJob(q);
    const dead = await startedJob(q);
    const now = epochSeconds();
    await redis.zadd('rq:wip:q', now + 100, `${running.id}:0123456789abcdef0123456789abcdef`);
    const registry = new StartedJobRegistry('q', { connection: redis });
    assert.deepEqual(await registry.getJobIds(), [running.id]);

    const deadMember = `${dead.id}:fedcba9876543210fedcba9876543210`;
    await redis.zadd('rq:wip:q', now - 5, deadMember);
    assert.deepEqual(await registry.getExpiredJobIds(), [dead.id]);
    const outcomes = await registry.cleanupExpired();
    assert.deepEqual([...outcomes], [[dead.id, 'failed']]);
    assert.equal(await redis.zscore('rq:wip:q', deadMember), null, 'the composite member is removed');
    assert.deepEqual(await redis.zrange('rq:failed:q', '0', '-1'), [dead.id], 'the failed registry holds the bare id');
    assert.equal(await redis.hget(dead.key, 'status'), 'failed');
    assert.equal(await redis.exists(`rq:job:${deadMember}`), 0);
    assert.deepEqual(await registry.getJobIds(), [running.id]);
  });

  it('two concurrent cleanups move an expired entry once', async () => {
    const q = new Queue('q', { connection: redis });
    const job = await startedJob(q);
    await redis.zadd('rq:wip:q', epochSeconds() - 5, job.id);
    // One connection: both read the expired member before either script runs, so both try to move it.
    // `now` given: each read is sent at once. Reading Redis's clock first left a race: when the
    // reply to the second TIME came in one chunk with the first read's, the first script went out
    // before the second read (its await chain is shorter); under load once only one cleanup saw it.
    const now = epochSeconds();
    const registry = new StartedJobRegistry('q', { connection: redis });
    const results = await Promise.all([registry.cleanupExpired(now), new StartedJobRegistry('q', { connection: redis }).cleanupExpired(now)]);
    const outcomes: AbandonOutcome[] = results.flatMap((m) => [...m.values()]);
    assert.deepEqual(outcomes.slice().sort(), ['failed', 'gone'], `both saw the entry; outcomes ${JSON.stringify(outcomes)}`);
    assert.deepEqual(await redis.zrange('rq:failed:q', '0', '-1'), [job.id]);
    assert.equal(await redis.zcard('rq:wip:q'), 0);
    assert.equal(await redis.hget(job.key, 'status'), 'failed');
  });

  it('two concurrent cleanups requeue a job with retries once', async () => {
    const q = new Queue('q', { connection: redis });
    const job = await startedJob(q, { func: 'tasks.flaky', retry: { max: 2, interval: 0 } });
    await redis.zadd('rq:wip:q', epochSeconds() - 5, job.id);
    const registry = new StartedJobRegistry('q', { connection: redis });
    const results = await Promise.all([registry.cleanupExpired(), registry.cleanupExpired(), registry.cleanupExpired()]);
    const outcomes = results.flatMap((m) => [...m.values()]);
    assert.equal(outcomes.filter((o) => o === 'requeued').length, 1, `outcomes ${JSON.stringify(outcomes)}`);
    assert.deepEqual(await redis.lrange('rq:queue:q', 0, -1), [job.id], 'on the queue once');
    assert.equal(await redis.hget(job.key, 'retries_left'), '1', 'one retry used');
  });
});

describe('FailedJobRegistry.requeue', () => {
  async function failedJob(q: Queue): Promise<Job> {
    const job = await startedJob(q);
    await redis.hset(job.key, { status: 'failed', ended_at: '2026-01-01T00:00:01.000000Z', exc_info: deflateSync(Buffer.from('Traceback: boom')) });
    await redis.zadd('rq:failed:q', epochSeconds() + 1000, job.id);
    return job;
  }

  it('puts the job back on its queue with status queued and started_at/ended_at/exc_info cleared', async () => {
    const q = new Queue('q', { connection: redis });
    const waiting = await q.enqueue('tasks.waiting');
    const job = await failedJob(q);
    const registry = new FailedJobRegistry('q', { connection: redis });
    const requeued = await registry.requeue(job.id);
    assert.equal(requeued.id, job.id);
    assert.equal(requeued.status, JobStatus.QUEUED);
    assert.deepEqual(await redis.lrange('rq:queue:q', 0, -1), [waiting.id, job.id]);
    assert.equal(await registry.contains(job), false);
    const h = await redis.hgetallBuffer(job.key);
    assert.equal(h.status?.toString(), 'queued');
    assert.equal(h.started_at?.toString(), '');
    assert.equal(h.ended_at?.toString(), '');
    assert.equal(inflateSync(h.exc_info!).toString(), '', "exc_info = zlib('') as rq writes it");
    assert.equal(h.origin?.toString(), 'q');
    const fetched = await Job.fetch(job.id, { connection: redis });
    assert.equal(fetched.funcName, 'tasks.work', 'data intact');
    assert.equal(fetched.startedAt, null);
  });

  it('takes a Job object too', async () => {
    const q = new Queue('q', { connection: redis });
    const job = await failedJob(q);
    await new FailedJobRegistry('q', { connection: redis }).requeue(job);
    assert.deepEqual(await redis.lrange('rq:queue:q', 0, -1), [job.id]);
  });

  it('throws InvalidOperationError for a job that is not in the registry, and writes nothing', async () => {
    const q = new Queue('q', { connection: redis });
    const job = await startedJob(q);
    const registry = new FailedJobRegistry('q', { connection: redis });
    await assert.rejects(registry.requeue(job.id), InvalidOperationError);
    assert.equal(await redis.llen('rq:queue:q'), 0);
    assert.equal(await redis.hget(job.key, 'status'), 'started');
  });

  it('throws NoSuchJobError (and drops the entry) when the job hash is gone', async () => {
    await redis.zadd('rq:failed:q', epochSeconds() + 1000, 'ghost');
    const registry = new FailedJobRegistry('q', { connection: redis });
    await assert.rejects(registry.requeue('ghost'), NoSuchJobError);
    assert.equal(await redis.zcard('rq:failed:q'), 0);
    assert.equal(await redis.llen('rq:queue:q'), 0);
  });
});
