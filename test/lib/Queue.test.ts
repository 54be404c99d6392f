import assert from 'node:assert/strict';
import { inflateSync } from 'node:zlib';
import { describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import {
  InvalidJobIdError,
  InvalidOperationError,
  Job,
  JobStatus,
  Queue,
  RqError,
  SerializationError,
} from '../../lib/index.js';
import { useRedis, waitFor } from '../helpers/redis.js';

let redis: Redis;

useRedis((_server, r) => {
  redis = r;
});

describe('Queue.enqueue', () => {
  it("writes rq 1.13's keys and job hash", async () => {
    const q = new Queue('default', { connection: redis });
    const job = await q.enqueue('tasks.add', 1, 2);
    assert.match(job.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.deepEqual(await redis.smembers('rq:queues'), ['rq:queue:default']);
    assert.deepEqual(await redis.lrange('rq:queue:default', 0, -1), [job.id]);
    const hash = await redis.hgetallBuffer(`rq:job:${job.id}`);
    const text = (k: string): string | undefined => hash[k]?.toString();
    assert.equal(inflateSync(hash.data!).toString(), '["tasks.add", null, [1, 2], {}]');
    assert.equal(text('status'), 'queued');
    assert.equal(text('origin'), 'default');
    assert.equal(text('description'), 'tasks.add(1, 2)');
    assert.equal(text('timeout'), '180');
    for (const k of ['started_at', 'ended_at', 'last_heartbeat', 'worker_name', 'success_callback_name', 'failure_callback_name']) {
      assert.equal(text(k), '', k);
    }
    assert.match(text('created_at') ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.match(text('enqueued_at') ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.equal(hash.meta, undefined, 'meta only when non-empty');
    assert.equal(await redis.ttl(`rq:job:${job.id}`), -1);
  });

  it('enqueueCall takes every rq option', async () => {
    const q = new Queue('high', { connection: redis, defaultTimeout: '1h' });
    await q.enqueue('tasks.first');
    const job = await q.enqueueCall({
      func: 'tasks.send',
      args: ['me@nvie.com'],
      kwargs: { b: true, a: null },
      timeout: 30,
      resultTtl: 60,
      ttl: 120,
      failureTtl: 900,
      jobId: 'my-job',
      atFront: true,
      meta: { k: 'v' },
    });
    assert.equal(job.id, 'my-job');
    assert.deepEqual(await redis.lrange('rq:queue:high', 0, -1), ['my-job', (await q.jobIds())[1]]);
    const h = await redis.hgetall('rq:job:my-job');
    assert.equal(h.description, "tasks.send('me@nvie.com', a=None, b=True)");
    assert.equal(h.timeout, '30');
    assert.equal(h.result_ttl, '60');
    assert.equal(h.failure_ttl, '900');
    assert.equal(h.ttl, '120');
    assert.equal(h.meta, '{"k": "v"}');
    assert.equal(h.enqueue_at_front, undefined, 'rq 1.13 does not write enqueue_at_front for a plain at_front enqueue');
    const ttl = await redis.ttl('rq:job:my-job');
    assert.ok(ttl > 100 && ttl <= 120, `ttl ${ttl}`);
    const first = await q.fetchJob((await q.jobIds())[1]!);
    assert.equal(first?.timeout, 3600, 'queue default timeout applies');
  });

  it('enqueueMany: one round trip, one script call per 500 jobs without dependencies, order kept', async () => {
    const q = new Queue('bulk', { connection: redis });
    const parent = await q.enqueue('tasks.parent');
    const calls: string[] = [];
    const dup = redis.duplicate();
    const monitor = await dup.monitor();
    monitor.on('monitor', (_t: string, args: string[]) => {
      const cmd = args[0]?.toLowerCase();
      if (cmd === 'evalsha' || cmd === 'eval') calls.push(`${args[2]}`);
    });
    const specs = Array.from({ length: 1200 }, (_, i) => ({ func: 'tasks.n', args: [i], ...(i === 700 ? { dependsOn: parent.id } : {}) }));
    const jobs = await q.enqueueMany(specs);
    await waitFor(() => calls.length >= 4, 'the MONITOR lines');
    monitor.disconnect();
    dup.disconnect();
    // numkeys: 2 + 1 per job (no ttl) for the bulk calls; the dependent job is its own call in between.
    assert.deepEqual(calls.map(Number), [2 + 500, 2 + 200, 8, 2 + 499], 'chunks of up to 500 around the dependent job');
    assert.equal(jobs.length, 1200);
    const queued = jobs.filter((_, i) => i !== 700).map((j) => j.id);
    assert.deepEqual(await q.jobIds(), [parent.id, ...queued], 'in order; the dependent job waits (deferred)');
    assert.equal(await redis.hget(jobs[700]!.key, 'status'), 'deferred');
    assert.equal(await redis.hget(jobs[1199]!.key, 'status'), 'queued');
  });

  it('enqueueMany writes the same hashes, expiries and order as enqueueCall one by one, whatever fields each job has', async () => {
    const specs = [
      { func: 'tasks.n', args: [1] },
      { func: 'tasks.n', args: [2] },
      { func: 'tasks.n', args: [3], ttl: 300 },
      { func: 'tasks.n', args: [4], meta: { who: 'me' }, description: 'fourth' },
      { func: 'tasks.n', args: [5], resultTtl: 60, failureTtl: 90, timeout: 30 },
      { func: 'tasks.n', args: [6], atFront: true, retry: { max: 2, interval: [1, 5] } },
      { func: 'tasks.n', args: [7], ttl: 200 },
      { func: 'tasks.n', args: [8] },
    ];
    const many = await new Queue('many', { connection: redis }).enqueueMany(specs.map((s, i) => ({ ...s, jobId: `m${i}` })));
    const single = new Queue('single', { connection: redis });
    for (const [i, s] of specs.entries()) await single.enqueueCall({ ...s, jobId: `s${i}` });
    const comparable = async (key: string): Promise<Record<string, string>> => {
      const h = await redis.hgetallBuffer(key);
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(h)) {
        if (k === 'created_at' || k === 'enqueued_at') assert.match(v.toString(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, `${key} ${k}`);
        else if (k === 'origin') assert.equal(v.toString(), key.startsWith('rq:job:m') ? 'many' : 'single');
        else out[k] = v.toString('base64');
      }
      return out;
    };
    for (let i = 0; i < specs.length; i++) {
      assert.deepEqual(await comparable(`rq:job:m${i}`), await comparable(`rq:job:s${i}`), `job ${i}`);
      assert.equal(Math.round((await redis.pttl(`rq:job:m${i}`)) / 10_000), Math.round((await redis.pttl(`rq:job:s${i}`)) / 10_000), `ttl of job ${i}`);
    }
    assert.ok((await redis.ttl('rq:job:m2')) > 290, 'a ttl is set');
    assert.deepEqual(await redis.lrange('rq:queue:many', 0, -1), ['m5', 'm0', 'm1', 'm2', 'm3', 'm4', 'm6', 'm7'], 'at_front first, then in order');
    assert.deepEqual(many.map((j) => j.status), specs.map(() => JobStatus.QUEUED));
  });

  it('enqueueMany writes a chunk whole or not at all: a job key of the wrong type rejects it', async () => {
    await redis.set('rq:job:taken-id', 'a string');
    const q = new Queue('bulk-bad', { connection: redis });
    const specs = Array.from({ length: 10 }, (_, i) => ({ func: 'tasks.n', args: [i], jobId: i === 5 ? 'taken-id' : `ok-${i}` }));
    await assert.rejects(q.enqueueMany(specs), (e: unknown) => e instanceof InvalidOperationError && /rq:job:taken-id holds a string/.test(e.message));
    assert.equal(await q.count(), 0, 'nothing queued');
    assert.equal(await redis.exists('rq:job:ok-0', 'rq:job:ok-9'), 0, 'no job hash written');
    assert.equal(await redis.get('rq:job:taken-id'), 'a string', 'the stranger key untouched');
  });

  it('rejects bad input before writing anything', async () => {
    const q = new Queue('default', { connection: redis });
    await assert.rejects(q.enqueueCall({ func: 'tasks.x', jobId: 'a:b' }), InvalidJobIdError);
    await assert.rejects(q.enqueueCall({ func: 'tasks.x', args: [() => 1] }), SerializationError);
    await assert.rejects(q.enqueueCall({ func: 'not a path' }), /Invalid function path "not a path"/);
    await assert.rejects(q.enqueueCall({ func: 'tasks.x', timeout: 0 }), /Invalid timeout 0/);
    await assert.rejects(q.enqueueCall({ func: 'tasks.x', resultTtl: -5 }), /Invalid result TTL -5/);
    await assert.rejects(
      q.enqueueMany([{ func: 'tasks.ok' }, { func: 'tasks.bad', args: [new Map()] }]),
      /args\[0\] is an instance of Map/,
    );
    assert.equal(await redis.dbsize(), 0, 'nothing written');
    assert.throws(() => new Queue('', { connection: redis }), RqError);
    assert.throws(() => new Queue('bad\nname', { connection: redis }), RqError);
    assert.equal(new Queue('python allows spaces', { connection: redis }).key, 'rq:queue:python allows spaces');
  });

  it('leaves Redis untouched when the queue key has the wrong type', async () => {
    await redis.set('rq:queue:broken', 'x');
    const q = new Queue('broken', { connection: redis });
    await assert.rejects(q.enqueueCall({ func: 'tasks.x', jobId: 'j1' }), (e: unknown) => e instanceof InvalidOperationError && /not|expected a list/.test(e.message));
    assert.equal(await redis.exists('rq:job:j1'), 0);
    assert.equal(await redis.exists('rq:queues'), 0);
  });

  it('count, jobIds, jobs, empty, delete, all', async () => {
    const a = new Queue('a', { connection: redis });
    const b = new Queue('b', { connection: redis });
    const jobs = await a.enqueueMany(Array.from({ length: 1200 }, (_, i) => ({ func: 'tasks.n', args: [i] })));
    await b.enqueue('tasks.x');
    assert.deepEqual((await Queue.all({ connection: redis })).map((q) => q.name), ['a', 'b']);
    assert.equal(await a.count(), 1200);
    assert.deepEqual(await a.jobIds(10, 2), [jobs[10]!.id, jobs[11]!.id]);
    await redis.del(`rq:job:${jobs[1]!.id}`);
    assert.deepEqual((await a.jobs(0, 3)).map((j) => j.id), [jobs[0]!.id, jobs[2]!.id]);
    assert.equal(await a.empty(), 1200);
    assert.equal(await a.count(), 0);
    assert.equal(await redis.exists(`rq:job:${jobs[5]!.id}`), 0);
    await b.delete();
    assert.deepEqual((await Queue.all({ connection: redis })).map((q) => q.name), ['a']);
    assert.equal(await redis.exists('rq:queue:b'), 0);
  });

  it('a custom Queue class names its Job class', async () => {
    class MyJob extends Job {}
    class MyQueue extends Queue {
      static override jobClass = MyJob;
    }
    const q = new MyQueue('custom', { connection: redis });
    const job = await q.enqueue('tasks.x');
    assert.ok(job instanceof MyJob);
    assert.ok((await q.fetchJob(job.id)) instanceof MyJob);
  });

  it('fetchJob drops an id whose hash is gone', async () => {
    const q = new Queue('default', { connection: redis });
    const job = await q.enqueue('tasks.x');
    await redis.del(job.key);
    assert.equal(await q.fetchJob(job.id), null);
    assert.equal(await q.count(), 0);
    assert.equal((await q.jobs()).length, 0);
    assert.equal(job.status, JobStatus.QUEUED);
  });
});
