import assert from 'node:assert/strict';
import { deflateSync, inflateSync } from 'node:zlib';
import { describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import {
  DeserializationError,
  InvalidJobIdError,
  InvalidOperationError,
  Job,
  JobStatus,
  NoSuchJobError,
  Queue,
  ResultType,
  epochSeconds,
} from '../../lib/index.js';
import { useRedis } from '../helpers/redis.js';

let redis: Redis;

useRedis((_server, r) => {
  redis = r;
});

const zlib = (s: string): Buffer => deflateSync(Buffer.from(s, 'utf8'));
const b64 = (b: Buffer | string): string => (typeof b === 'string' ? Buffer.from(b, 'utf8') : b).toString('base64');

/** A job hash as rq 1.13 writes it with the JSON serializer (rq-wire-protocol.md §2). */
function rqHash(overrides: Record<string, string | Buffer> = {}): Record<string, string | Buffer> {
  return {
    created_at: '2026-11-27T04:57:09.722477Z',
    data: zlib('["tasks.add", null, [1, 2], {}]'),
    success_callback_name: '',
    failure_callback_name: '',
    started_at: '',
    ended_at: '',
    last_heartbeat: '',
    worker_name: '',
    origin: 'default',
    description: 'tasks.add(1, 2)',
    enqueued_at: '2026-11-27T04:57:09.723001Z',
    status: 'queued',
    timeout: '180',
    ...overrides,
  };
}

/** Writes a hand-made success entry (`type 1 [return_value b64(json)]`) to rq:results:<id>. */
function xaddSuccess(id: string, json: string | null, entryId = '*'): Promise<string | null> {
  const fields = ['type', '1'];
  if (json !== null) fields.push('return_value', b64(json));
  return redis.xadd(`rq:results:${id}`, 'MAXLEN', '~', '10', entryId, ...fields);
}

/** Writes a hand-made failure entry (`type 2 exc_string b64(zlib(tb))`) to rq:results:<id>. */
function xaddFailure(id: string, traceback: string, entryId = '*'): Promise<string | null> {
  return redis.xadd(`rq:results:${id}`, 'MAXLEN', '~', '10', entryId, 'type', '2', 'exc_string', b64(zlib(traceback)));
}

describe('Job.fetch', () => {
  it('reads every field of a hash rq 1.13 wrote', async () => {
    await redis.hset(
      'rq:job:j1',
      rqHash({
        started_at: '2026-11-27T04:57:10.000100Z',
        last_heartbeat: '2026-11-27T04:57:11Z',
        worker_name: 'w1',
        status: 'started',
        result_ttl: '600',
        failure_ttl: '900',
        ttl: '60',
        retries_left: '2',
        retry_intervals: '[0, 5]',
        dependency_id: 'a',
        dependency_ids: '["a", "b"]',
        allow_dependency_failures: '1',
        enqueue_at_front: '1',
        meta: '{"k": "v", "n": [1]}',
        success_callback_name: 'tasks.on_ok',
      }),
    );
    const job = await Job.fetch('j1', { connection: redis });
    assert.equal(job.id, 'j1');
    assert.equal(job.funcName, 'tasks.add');
    assert.deepEqual(job.args, [1, 2]);
    assert.deepEqual(job.kwargs, {});
    assert.equal(job.callString, 'tasks.add(1, 2)');
    assert.equal(job.status, JobStatus.STARTED);
    assert.equal(job.origin, 'default');
    assert.equal(job.description, 'tasks.add(1, 2)');
    assert.equal(job.createdAt.toISOString(), '2026-11-27T04:57:09.722Z');
    assert.equal(job.enqueuedAt?.toISOString(), '2026-11-27T04:57:09.723Z');
    assert.equal(job.startedAt?.toISOString(), '2026-11-27T04:57:10.000Z');
    assert.equal(job.lastHeartbeat?.toISOString(), '2026-11-27T04:57:11.000Z', 'timestamp without fraction');
    assert.equal(job.endedAt, null, "'' reads as null");
    assert.equal(job.workerName, 'w1');
    assert.equal(job.timeout, 180);
    assert.equal(job.resultTtl, 600);
    assert.equal(job.failureTtl, 900);
    assert.equal(job.ttl, 60);
    assert.equal(job.retriesLeft, 2);
    assert.deepEqual(job.retryIntervals, [0, 5]);
    assert.deepEqual(job.dependencyIds, ['a', 'b']);
    assert.equal(job.allowDependencyFailures, true);
    assert.equal(job.enqueueAtFront, true);
    assert.deepEqual(job.meta, { k: 'v', n: [1] });
    assert.equal(job.successCallbackName, 'tasks.on_ok');
    assert.equal(job.failureCallbackName, null);
  });

  it('round-trips a job enqueued by Queue, and returns instances of the class it is called on', async () => {
    class MyJob extends Job {}
    const q = new Queue('high', { connection: redis });
    const enqueued = await q.enqueueCall({ func: 'tasks.send', args: ['x', 2], kwargs: { to: 'me' }, resultTtl: 60, meta: { a: 1 } });
    const job = await MyJob.fetch(enqueued.id, { connection: redis });
    assert.ok(job instanceof MyJob);
    assert.equal(job.funcName, 'tasks.send');
    assert.deepEqual(job.args, ['x', 2]);
    assert.deepEqual(job.kwargs, { to: 'me' });
    assert.equal(job.origin, 'high');
    assert.equal(job.status, JobStatus.QUEUED);
    assert.equal(job.resultTtl, 60);
    assert.deepEqual(job.meta, { a: 1 });
    assert.equal(job.enqueuedAt?.getTime(), enqueued.enqueuedAt?.getTime());
  });

  it('throws NoSuchJobError for a missing id', async () => {
    await assert.rejects(Job.fetch('nope', { connection: redis }), (e: unknown) => e instanceof NoSuchJobError && e.message.includes('nope'));
  });

  it('throws NoSuchJobError for a hash without data', async () => {
    await redis.hset('rq:job:nodata', { status: 'queued', origin: 'default', created_at: '2026-11-27T04:57:09.722477Z' });
    await assert.rejects(Job.fetch('nodata', { connection: redis }), NoSuchJobError);
  });

  it('throws InvalidJobIdError for ids rq cannot store', async () => {
    await redis.hset('rq:job:a:b', rqHash());
    await assert.rejects(Job.fetch('a:b', { connection: redis }), InvalidJobIdError);
    await assert.rejects(Job.fetch('', { connection: redis }), InvalidJobIdError);
    await assert.rejects(Job.fetchMany(['ok', 'x:y'], { connection: redis }), InvalidJobIdError);
    assert.throws(() => new Job('', { connection: redis }), InvalidJobIdError);
  });

  const corrupt: [string, string | Buffer][] = [
    ['bytes that are neither zlib nor JSON', Buffer.from([0xff, 0x00, 0x13, 0x37, 0x80])],
    ['plain text', 'not json at all'],
    ['zlib of something that is not JSON', zlib('\x80\x05K\x03.')],
    ['JSON of the wrong shape (object)', zlib('{"func": "tasks.add"}')],
    ['JSON of the wrong shape (3 items)', zlib('["tasks.add", null, [1]]')],
    ['JSON of the wrong shape (func not a string)', zlib('[1, null, [], {}]')],
    ['JSON of the wrong shape (args not a list)', zlib('["tasks.add", null, {}, {}]')],
    ['JSON of the wrong shape (kwargs a list)', zlib('["tasks.add", null, [], []]')],
  ];
  for (const [what, data] of corrupt) {
    it(`fetches a job whose data is ${what}; decoding it throws DeserializationError naming the job`, async () => {
      await redis.hset('rq:job:bad-1', rqHash({ data }));
      const job = await Job.fetch('bad-1', { connection: redis });
      assert.equal(job.status, JobStatus.QUEUED, 'the rest of the hash is still readable');
      assert.equal(job.origin, 'default');
      const isDeserializationError = (e: unknown): boolean => e instanceof DeserializationError && e.message.includes('bad-1');
      assert.throws(() => job.funcName, isDeserializationError);
      assert.throws(() => job.args, isDeserializationError);
      assert.throws(() => job.kwargs, isDeserializationError);
    });
  }

  it('reads data that is raw (uncompressed) JSON, as rq falls back to the raw bytes', async () => {
    await redis.hset('rq:job:raw', rqHash({ data: '["tasks.add", null, [1, 2], {"x": "\\u00e9"}]' }));
    const job = await Job.fetch('raw', { connection: redis });
    assert.equal(job.funcName, 'tasks.add');
    assert.deepEqual(job.args, [1, 2]);
    assert.deepEqual(job.kwargs, { x: 'é' });
  });

  it("tolerates rq 2.x data: status 'created', a missing status, extra fields", async () => {
    await redis.hset('rq:job:v2', rqHash({ status: 'created', group_id: '', stopped_callback_name: '', number_of_retries: '0', repeats_left: '1' }));
    const created = await Job.fetch('v2', { connection: redis });
    assert.equal(created.status, JobStatus.CREATED);
    assert.equal(await created.getStatus(), 'created');
    assert.equal(created.funcName, 'tasks.add');

    const hash = rqHash();
    delete hash.status;
    await redis.hset('rq:job:nostatus', hash);
    const nostatus = await Job.fetch('nostatus', { connection: redis });
    assert.equal(nostatus.status, null);
    assert.equal(await nostatus.getStatus(), null);
    assert.equal(nostatus.funcName, 'tasks.add');
  });
});

describe('Job.fetchMany', () => {
  it('returns jobs in the order asked, null for missing ids and hashes without data', async () => {
    await redis.hset('rq:job:a', rqHash());
    await redis.hset('rq:job:c', rqHash({ data: zlib('["tasks.c", null, [], {}]') }));
    await redis.hset('rq:job:nodata', { status: 'queued' });
    const jobs = await Job.fetchMany(['c', 'missing', 'a', 'nodata'], { connection: redis });
    assert.deepEqual(
      jobs.map((j) => j?.id ?? null),
      ['c', null, 'a', null],
    );
    assert.equal(jobs[0]?.funcName, 'tasks.c');
    assert.equal(jobs[2]?.funcName, 'tasks.add');
    assert.deepEqual(await Job.fetchMany([], { connection: redis }), []);
  });

  it('loads the latest result of each job with it', async () => {
    await redis.hset('rq:job:a', rqHash({ status: 'failed' }));
    await redis.hset('rq:job:b', rqHash({ status: 'failed', exc_info: zlib('from the hash') }));
    await xaddFailure('a', 'Traceback: a broke');
    const [a, b] = await Job.fetchMany(['a', 'b'], { connection: redis });
    assert.equal(a?.excInfo, 'Traceback: a broke');
    assert.equal(b?.excInfo, 'from the hash');
  });
});

describe('Job.refresh and getStatus', () => {
  it('refresh reloads what another process wrote, and throws NoSuchJobError once the job is gone', async () => {
    const q = new Queue('default', { connection: redis });
    const job = await q.enqueue('tasks.add', 1, 2);
    await redis.hset(job.key, { status: 'started', worker_name: 'w9', started_at: '2026-01-02T03:04:05.678901Z', meta: '{"p": 1}' });
    assert.equal(job.status, JobStatus.QUEUED);
    await job.refresh();
    assert.equal(job.status, JobStatus.STARTED);
    assert.equal(job.workerName, 'w9');
    assert.equal(job.startedAt?.toISOString(), '2026-01-02T03:04:05.678Z');
    assert.deepEqual(job.meta, { p: 1 });
    await redis.del(job.key);
    await assert.rejects(job.refresh(), NoSuchJobError);
  });

  it('getStatus reads the stored status unless told not to', async () => {
    const q = new Queue('default', { connection: redis });
    const job = await q.enqueue('tasks.add', 1, 2);
    await redis.hset(job.key, 'status', 'finished');
    assert.equal(await job.getStatus(false), JobStatus.QUEUED, 'cached value without refresh');
    assert.equal(await job.getStatus(), JobStatus.FINISHED);
    assert.equal(job.status, JobStatus.FINISHED, 'the object is updated');
    await redis.del(job.key);
    assert.equal(await job.getStatus(), null);
  });
});

describe('Job.saveMeta', () => {
  it('writes only meta, in the serializer format, and fetch reads it back', async () => {
    const q = new Queue('default', { connection: redis });
    const job = await q.enqueue('tasks.add', 1, 2);
    await redis.hset(job.key, 'status', 'started');
    job.meta = { progress: 50, nested: { a: [1, 'é'] } };
    await job.saveMeta();
    assert.equal(await redis.hget(job.key, 'meta'), '{"progress": 50, "nested": {"a": [1, "\\u00e9"]}}');
    assert.equal(await redis.hget(job.key, 'status'), 'started', 'other fields are not rewritten');
    const fetched = await Job.fetch(job.id, { connection: redis });
    assert.deepEqual(fetched.meta, { progress: 50, nested: { a: [1, 'é'] } });
  });
});

describe('Job.delete', () => {
  it('removes the hash, results stream, dependency sets, queue entry and every registry entry', async () => {
    const q = new Queue('default', { connection: redis });
    const job = await q.enqueue('tasks.add', 1, 2);
    const other = await q.enqueue('tasks.other');
    await xaddSuccess(job.id, '3');
    await redis.sadd(job.dependentsKey, 'someone');
    await redis.sadd(job.dependenciesKey, 'parent');
    for (const r of ['wip', 'finished', 'failed', 'deferred', 'scheduled', 'canceled']) {
      await redis.zadd(`rq:${r}:default`, epochSeconds() + 100, job.id, epochSeconds() + 100, other.id);
    }
    await job.delete();
    assert.equal(await redis.exists(`rq:job:${job.id}`, `rq:results:${job.id}`, `rq:job:${job.id}:dependents`, `rq:job::${job.id}:dependencies`), 0);
    assert.deepEqual(await redis.lrange('rq:queue:default', 0, -1), [other.id]);
    for (const r of ['wip', 'finished', 'failed', 'deferred', 'scheduled', 'canceled']) {
      assert.deepEqual(await redis.zrange(`rq:${r}:default`, '0', '-1'), [other.id], r);
    }
    assert.equal(await redis.exists(other.key), 1, 'other jobs untouched');
  });

  it('removeFromQueue: false leaves the queue entry', async () => {
    const q = new Queue('default', { connection: redis });
    const job = await q.enqueue('tasks.add', 1, 2);
    await job.delete({ removeFromQueue: false });
    assert.equal(await redis.exists(job.key), 0);
    assert.deepEqual(await redis.lrange('rq:queue:default', 0, -1), [job.id]);
  });

  it('deleteDependents deletes the jobs waiting on it, and only with the option', async () => {
    const q = new Queue('default', { connection: redis });
    const makeFamily = async (parentId: string): Promise<Job[]> => {
      const parent = await q.enqueueCall({ func: 'tasks.parent', jobId: parentId });
      const children: Job[] = [];
      for (const n of [1, 2]) {
        const child = q.createJob({ func: 'tasks.child', jobId: `${parentId}-child${n}`, dependsOn: [parent], status: JobStatus.DEFERRED });
        await child.save();
        await redis.zadd('rq:deferred:default', String(epochSeconds()), child.id);
        await redis.sadd(parent.dependentsKey, child.id);
        await redis.sadd(child.dependenciesKey, parent.id);
        await xaddSuccess(child.id, null);
        children.push(child);
      }
      return [parent, ...children];
    };

    const [keepParent, ...kept] = await makeFamily('keep');
    await keepParent!.delete();
    for (const child of kept) assert.equal(await redis.exists(child.key), 1, 'dependents survive without deleteDependents');

    const [parent, ...children] = await makeFamily('drop');
    await parent!.delete({ deleteDependents: true });
    assert.equal(await redis.exists(parent!.key, parent!.dependentsKey), 0);
    for (const child of children) {
      assert.equal(await redis.exists(child.key, child.dependenciesKey, `rq:results:${child.id}`), 0, child.id);
    }
    // rq 1.13's delete_dependents calls job.delete() on each dependent, which takes it out of its
    // registry (rq:deferred:<q> for a deferred dependent): no dangling ids are left behind.
    assert.deepEqual((await redis.zrange('rq:deferred:default', '0', '-1')).sort(), kept.map((c) => c.id).sort());
  });
});

describe('Job.cancel', () => {
  it('sets status canceled, takes the job off its queue and puts it in rq:canceled:<q>', async () => {
    const q = new Queue('default', { connection: redis });
    const job = await q.enqueue('tasks.add', 1, 2);
    const other = await q.enqueue('tasks.other');
    const before = epochSeconds();
    await job.cancel();
    assert.equal(job.status, JobStatus.CANCELED);
    assert.equal(await redis.hget(job.key, 'status'), 'canceled');
    assert.deepEqual(await redis.lrange('rq:queue:default', 0, -1), [other.id]);
    const score = Number(await redis.zscore('rq:canceled:default', job.id));
    assert.ok(score >= before && score <= epochSeconds(), `score ${score} is now`);
    assert.equal(await redis.exists(job.key), 1, 'the hash is kept');
  });

  it('cancelling twice throws InvalidOperationError', async () => {
    const q = new Queue('default', { connection: redis });
    const job = await q.enqueue('tasks.add', 1, 2);
    await job.cancel();
    await assert.rejects(job.cancel(), InvalidOperationError);
    const fetched = await Job.fetch(job.id, { connection: redis });
    await assert.rejects(fetched.cancel(), InvalidOperationError);
    assert.equal(await redis.zcard('rq:canceled:default'), 1);
  });

  it('works from a bare id (loads the origin) and takes a deferred job out of rq:deferred:<q>', async () => {
    const q = new Queue('low', { connection: redis });
    const job = q.createJob({ func: 'tasks.later', jobId: 'deferred-1', status: JobStatus.DEFERRED });
    await job.save();
    await redis.zadd('rq:deferred:low', String(epochSeconds()), job.id);
    await new Job('deferred-1', { connection: redis }).cancel();
    assert.equal(await redis.zcard('rq:deferred:low'), 0);
    assert.notEqual(await redis.zscore('rq:canceled:low', 'deferred-1'), null);
    assert.equal(await redis.hget('rq:job:deferred-1', 'status'), 'canceled');
  });

  it('throws NoSuchJobError for a job that does not exist', async () => {
    await assert.rejects(new Job('ghost', { connection: redis }).cancel(), NoSuchJobError);
    assert.equal(await redis.exists('rq:job:ghost'), 0, 'cancel does not create a hash');
  });
});

describe('Job results', () => {
  it('latestResult and results read rq:results:<id> entries written in rq format', async () => {
    await redis.hset('rq:job:r1', rqHash({ status: 'failed' }));
    await xaddSuccess('r1', '{"sum": 3}', '1700000000000-0');
    await xaddFailure('r1', 'Traceback (most recent call last):\nValueError: boom', '1700000001234-0');
    const job = await Job.fetch('r1', { connection: redis });

    const latest = await job.latestResult();
    assert.ok(latest);
    assert.equal(latest.type, ResultType.FAILED);
    assert.equal(latest.isSuccessful, false);
    assert.equal(latest.id, '1700000001234-0');
    assert.equal(latest.createdAt.getTime(), 1700000001234, 'created_at from the entry id');
    assert.equal(latest.excString, 'Traceback (most recent call last):\nValueError: boom');
    assert.equal(latest.returnValue, null);

    const all = await job.results();
    assert.deepEqual(
      all.map((r) => [r.type, r.id]),
      [
        [2, '1700000001234-0'],
        [1, '1700000000000-0'],
      ],
      'newest first',
    );
    assert.deepEqual(all[1]!.returnValue, { sum: 3 });
    assert.equal(all[1]!.createdAt.getTime(), 1700000000000);
    assert.equal(all[1]!.excString, null);

    assert.equal(job.excInfo, 'Traceback (most recent call last):\nValueError: boom');
    assert.equal(await job.returnValue(), null, 'the latest run failed');
  });

  it('returnValue reads the latest successful entry; a success without return_value is null', async () => {
    await redis.hset('rq:job:r2', rqHash({ status: 'finished', result: '"stale hash value"' }));
    await xaddFailure('r2', 'first run failed');
    await xaddSuccess('r2', '[1, "two", {"three": 3}]');
    const job = await Job.fetch('r2', { connection: redis });
    assert.deepEqual(await job.returnValue(), [1, 'two', { three: 3 }]);
    assert.equal(job.excInfo, null, 'latest result is a success and the hash has no exc_info');

    await redis.hset('rq:job:r3', rqHash({ status: 'finished' }));
    await xaddSuccess('r3', null);
    const none = await Job.fetch('r3', { connection: redis });
    assert.equal(await none.returnValue(), null);
    assert.equal((await none.latestResult())?.type, ResultType.SUCCESSFUL);
  });

  it('the stream wins over the hash exc_info', async () => {
    await redis.hset('rq:job:r4', rqHash({ status: 'failed', exc_info: zlib('old hash traceback') }));
    await xaddFailure('r4', 'stream traceback');
    const job = await Job.fetch('r4', { connection: redis });
    assert.equal(job.excInfo, 'stream traceback');
  });

  it('falls back to the hash fields result and exc_info (zlib) without a stream', async () => {
    await redis.hset('rq:job:h1', rqHash({ status: 'finished', result: '{"a": [1, 2]}' }));
    const finished = await Job.fetch('h1', { connection: redis });
    assert.equal(await finished.latestResult(), null);
    assert.deepEqual(await finished.results(), []);
    assert.deepEqual(await finished.returnValue(), { a: [1, 2] });
    assert.equal(finished.excInfo, null);

    const tb = 'Traceback (most recent call last):\n  File "jobs.py", line 1\nZeroDivisionError: division by zero';
    await redis.hset('rq:job:h2', rqHash({ status: 'failed', exc_info: zlib(tb) }));
    const failed = await Job.fetch('h2', { connection: redis });
    assert.equal(failed.excInfo, tb);
    assert.equal(await failed.returnValue(), null);
    assert.equal(inflateSync((await redis.hgetBuffer('rq:job:h2', 'exc_info'))!).toString(), tb, 'reading does not rewrite');
  });

  it('no result anywhere reads as null', async () => {
    await redis.hset('rq:job:empty', rqHash());
    const job = await Job.fetch('empty', { connection: redis });
    assert.equal(await job.latestResult(), null);
    assert.equal(await job.returnValue(), null);
    assert.equal(job.excInfo, null);
  });
});
