/**
 * Interop with python-rq 1.13 (Debian's python3-rq) over one throwaway redis-server: jobs, queues and
 * registries written by either side are read by the other (rq-wire-protocol.md §1-§2).
 * Every Python snippet gets the port in REDIS_PORT and input values as JSON in VALUES, and prints one
 * JSON document.
 */
import assert from 'node:assert/strict';
import { inflateSync } from 'node:zlib';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import {
  CanceledJobRegistry,
  DeferredJobRegistry,
  FailedJobRegistry,
  Job,
  NoSuchJobError,
  Queue,
  StartedJobRegistry,
  connect,
  epochSeconds,
} from '../../lib/index.js';
import { PYTHON_RQS, RQ_1, runPython, type PythonRq } from '../helpers/python.js';
import { runScript } from '../../lib/redis/scripts.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

const PRELUDE = `
import os, sys, json, warnings
warnings.simplefilter('ignore')
from datetime import datetime
from redis import Redis
from rq import Queue, Retry
from rq.job import Job
from rq.exceptions import NoSuchJobError
from rq.serializers import JSONSerializer
from rq.registry import StartedJobRegistry, FailedJobRegistry, DeferredJobRegistry, CanceledJobRegistry
r = Redis(host='127.0.0.1', port=int(os.environ['REDIS_PORT']))
V = json.loads(os.environ.get('VALUES', 'null'))
EPOCH = datetime(1970, 1, 1)

def us(dt):
    # A naive UTC datetime as integer microseconds since the epoch (None stays None).
    if dt is None:
        return None
    # rq 1.13 returns naive UTC datetimes, rq 2.x aware ones in UTC.
    assert isinstance(dt, datetime) and (dt.tzinfo is None or dt.utcoffset().total_seconds() == 0), repr(dt)
    dt = dt.replace(tzinfo=None)
    d = dt - EPOCH
    return (d.days * 86400 + d.seconds) * 1000000 + d.microseconds

def fetch(job_id):
    return Job.fetch(job_id, connection=r, serializer=JSONSerializer)

def view(job):
    return dict(
        id=job.id, func_name=job.func_name, instance=job.instance, args=list(job.args), kwargs=job.kwargs,
        status=job.get_status(), origin=job.origin, description=job.description,
        call_string=job.get_call_string(), timeout=job.timeout, result_ttl=job.result_ttl,
        failure_ttl=job.failure_ttl, ttl=job.ttl, meta=job.meta, retries_left=job.retries_left,
        retry_intervals=job.retry_intervals, dependency_ids=job._dependency_ids,
        created_at=us(job.created_at), enqueued_at=us(job.enqueued_at), started_at=us(job.started_at),
        ended_at=us(job.ended_at), worker_name=job.worker_name,
    )

def out(x):
    sys.stdout.write(json.dumps(x))
`;

/** Runs `code` after PRELUDE and parses what it printed. */
function py<T = Record<string, unknown>>(port: number, code: string, values?: unknown): T {
  const env: Record<string, string> = { REDIS_PORT: String(port) };
  if (values !== undefined) env.VALUES = JSON.stringify(values);
  const stdout = runPython(`${PRELUDE}\n${code}`, env, undefined, RQ);
  try {
    return JSON.parse(stdout) as T;
  } catch (err) {
    throw new Error(`python printed no JSON document: ${stdout}`, { cause: err });
  }
}

interface PyJob {
  id: string;
  func_name: string;
  instance: unknown;
  args: unknown[];
  kwargs: Record<string, unknown>;
  status: string | null;
  origin: string | null;
  description: string | null;
  call_string: string | null;
  timeout: number | null;
  result_ttl: number | null;
  failure_ttl: number | null;
  ttl: number | null;
  meta: Record<string, unknown>;
  retries_left: number | null;
  retry_intervals: number[] | null;
  dependency_ids: string[];
  created_at: number | null;
  enqueued_at: number | null;
  started_at: number | null;
  ended_at: number | null;
  worker_name: string | null;
}

/** A Python datetime (µs since the epoch) and our Date are the same instant within 1 ms. */
function assertSameInstant(pyMicros: number | null, ours: Date | null, what: string): void {
  if (pyMicros === null || ours === null) {
    assert.equal(ours, pyMicros, `${what}: one side has no timestamp (python ${pyMicros}, ours ${ours?.toISOString()})`);
    return;
  }
  const diff = Math.abs(pyMicros / 1000 - ours.getTime());
  assert.ok(diff < 1, `${what}: python ${new Date(pyMicros / 1000).toISOString()} (${pyMicros} µs) vs ours ${ours.toISOString()}: ${diff} ms apart`);
}

/** Every field of our job against Python's view of the same job. */
function assertSameJob(ours: Job, p: PyJob): void {
  assert.equal(ours.id, p.id);
  assert.equal(ours.funcName, p.func_name);
  assert.equal(p.instance, null);
  assert.deepEqual(ours.args, p.args);
  assert.deepEqual(ours.kwargs, p.kwargs);
  assert.equal(ours.status, p.status);
  assert.equal(ours.origin, p.origin);
  assert.equal(ours.description, p.description);
  assert.equal(ours.callString, p.call_string);
  assert.equal(ours.timeout, p.timeout);
  assert.equal(ours.resultTtl, p.result_ttl);
  assert.equal(ours.failureTtl, p.failure_ttl);
  assert.equal(ours.ttl, p.ttl);
  assert.deepEqual(ours.meta, p.meta);
  assert.equal(ours.retriesLeft, p.retries_left);
  assert.deepEqual(ours.retryIntervals, p.retry_intervals);
  assert.deepEqual(ours.dependencyIds, p.dependency_ids);
  assert.equal(ours.workerName, p.worker_name);
  assertSameInstant(p.created_at, ours.createdAt, 'created_at');
  assertSameInstant(p.enqueued_at, ours.enqueuedAt, 'enqueued_at');
  assertSameInstant(p.started_at, ours.startedAt, 'started_at');
  assertSameInstant(p.ended_at, ours.endedAt, 'ended_at');
}

const TS_FORMAT = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

/** Python's job hash and ours: same field names, same values except the two timestamps (format only). */
function assertSameHash(id: string, theirs: Record<string, Buffer>, ours: Record<string, Buffer>): void {
  assert.ok(Object.keys(theirs).length > 0, `python wrote rq:job:${id}`);
  // rq 2.x always writes these two, empty when unset; its reader takes a missing field as unset.
  theirs = { ...theirs };
  for (const f of ['group_id', 'stopped_callback_name']) if (theirs[f]?.length === 0 && ours[f] === undefined) delete theirs[f];
  assert.deepEqual(Object.keys(ours).sort(), Object.keys(theirs).sort(), `fields of rq:job:${id} (actual: ours, expected: python's)`);
  for (const field of Object.keys(theirs)) {
    const a = theirs[field]!;
    const b = ours[field]!;
    if (field === 'created_at' || field === 'enqueued_at') {
      assert.match(a.toString(), TS_FORMAT, `python's ${id}.${field}`);
      assert.match(b.toString(), TS_FORMAT, `our ${id}.${field}`);
    } else if (field === 'data') {
      // zlib builds may pick different encodings of the same bytes; what they encode must be equal.
      assert.equal(inflateSync(b).toString('hex'), inflateSync(a).toString('hex'), `${id}.data`);
    } else {
      assert.equal(b.toString('hex'), a.toString('hex'), `${id}.${field}: ours ${JSON.stringify(b.toString())}, python ${JSON.stringify(a.toString())}`);
    }
  }
}

// Values that must survive the trip through rq's JSON serializer unchanged on both sides.
const ARGS: unknown[] = [
  'héllo wörld ✓ 日本語 😀',
  'quotes \' " \\ and\ncontrol\t\u0001 and DEL \u007f',
  { nested: { list: [1, 2.5, null, 'ü'], empty: {}, none: [] }, flag: false },
  42,
  -7,
  0,
  3.25,
  0.1 + 0.2,
  2 ** 53 - 1,
  1e21,
  null,
  true,
  false,
  [],
];
const KWARGS: Record<string, unknown> = { name: 'Zoë', options: { deep: [true, null, { x: 'ÿ' }] }, count: 0, ratio: -1.5, 'ünï': '€' };
const META: Record<string, unknown> = { owner: 'ünïcode ✓', tags: ['a', 'b'], n: 1, nested: { ok: true } };

/** The python-rq the running suite is parametrized with (suites in a file run one after another). */
let RQ: PythonRq = RQ_1;

for (const rq of PYTHON_RQS) describe(`interop with python-rq ${rq.label}: jobs, queues, registries`, { skip: rq.python ? false : rq.reason }, () => {
  let server: RedisServer;
  let redis: Redis;

  before(async () => {
    RQ = rq;
    server = await startRedis();
    redis = connect(server.url);
  });
  after(async () => {
    redis?.disconnect();
    await server?.stop();
  });
  beforeEach(async () => {
    await redis.flushdb();
  });

  it('a job we enqueue is read by Python with every field equal to ours', async () => {
    const q = new Queue('default', { connection: redis });
    const job = await q.enqueueCall({
      func: 'tasks.process',
      args: ARGS,
      kwargs: KWARGS,
      meta: META,
      timeout: 45,
      resultTtl: 600,
      failureTtl: 900,
      ttl: 1200,
      jobId: 'ts-job-1',
    });
    const p = py<{ job: PyJob; queued: boolean; job_ids: string[]; count: number }>(
      server.port,
      `
job = fetch('ts-job-1')
q = Queue('default', connection=r, serializer=JSONSerializer)
out(dict(job=view(job), queued=job.is_queued, job_ids=q.job_ids, count=q.count))
`,
    );
    // What Python read is what we meant to write...
    assert.equal(p.job.func_name, 'tasks.process');
    assert.deepEqual(p.job.args, ARGS);
    assert.deepEqual(p.job.kwargs, KWARGS);
    assert.deepEqual(p.job.meta, META);
    assert.equal(p.job.status, 'queued');
    assert.equal(p.queued, true);
    assert.equal(p.job.origin, 'default');
    assert.equal(p.job.timeout, 45);
    assert.equal(p.job.result_ttl, 600);
    assert.equal(p.job.failure_ttl, 900);
    assert.equal(p.job.ttl, 1200);
    assert.equal(p.job.retries_left, null);
    assert.deepEqual(p.job.dependency_ids, []);
    // ... our default description is Python's own call string for the same call ...
    assert.equal(p.job.description, p.job.call_string);
    // ... and every field equals ours, before and after a round trip through Redis.
    assertSameJob(job, p.job);
    assertSameJob(await Job.fetch('ts-job-1', { connection: redis }), p.job);
    assert.ok(job.enqueuedAt && job.enqueuedAt.getTime() >= job.createdAt.getTime());
    assert.deepEqual(p.job_ids, ['ts-job-1']);
    assert.equal(p.count, 1);
  });

  it("our data and job hash are byte for byte what Python's JSONSerializer and q.enqueue_call write", async () => {
    const full = {
      func: 'tasks.process',
      args: ARGS,
      kwargs: KWARGS,
      meta: META,
      timeout: 45,
      result_ttl: 600,
      failure_ttl: 900,
      ttl: 1200,
      retry: { max: 3, interval: [2, 4] },
      job_id: 'same-full',
    };
    const p = py<{ dumps: string; meta: string }>(
      server.port,
      `
out(dict(
    dumps=JSONSerializer.dumps((V['func'], None, V['args'], V['kwargs'])).hex(),
    meta=JSONSerializer.dumps(V['meta']).hex(),
))
q = Queue('default', connection=r, serializer=JSONSerializer)
q.enqueue_call(V['func'], args=V['args'], kwargs=V['kwargs'], meta=V['meta'], timeout=V['timeout'],
               result_ttl=V['result_ttl'], failure_ttl=V['failure_ttl'], ttl=V['ttl'], job_id=V['job_id'],
               retry=Retry(max=V['retry']['max'], interval=V['retry']['interval']))
q.enqueue_call('tasks.noop', job_id='same-min')
`,
      full,
    );
    const snapshot = async (): Promise<{
      hashes: Record<string, Record<string, Buffer>>;
      keys: string[];
      ttl: number;
      queues: string[];
      lists: Record<string, string[]>;
    }> => {
      const hashes: Record<string, Record<string, Buffer>> = {};
      for (const id of ['same-full', 'same-min']) hashes[id] = await redis.hgetallBuffer(`rq:job:${id}`);
      return {
        hashes,
        keys: (await redis.keys('*')).sort(),
        ttl: await redis.ttl('rq:job:same-full'),
        queues: (await redis.smembers('rq:queues')).sort(),
        lists: { default: await redis.lrange('rq:queue:default', 0, -1) },
      };
    };
    const theirs = await snapshot();
    await redis.flushdb();

    const ours = await new Queue('default', { connection: redis }).enqueueCall({
      func: full.func,
      args: full.args,
      kwargs: full.kwargs,
      meta: full.meta,
      timeout: full.timeout,
      resultTtl: full.result_ttl,
      failureTtl: full.failure_ttl,
      ttl: full.ttl,
      retry: full.retry,
      jobId: full.job_id,
    });
    await new Queue('default', { connection: redis }).enqueueCall({ func: 'tasks.noop', jobId: 'same-min' });
    const mine = await snapshot();

    // data: zlib-decompressed, the very bytes of Python's JSONSerializer.dumps((func, None, args, kwargs)).
    assert.ok(ours.rawData);
    assert.equal(inflateSync(ours.rawData).toString('hex'), p.dumps);
    assert.equal(inflateSync(mine.hashes['same-full']!.data!).toString('hex'), p.dumps);
    assert.equal(mine.hashes['same-full']!.meta!.toString('hex'), p.meta);

    for (const id of ['same-full', 'same-min']) assertSameHash(id, theirs.hashes[id]!, mine.hashes[id]!);
    assert.deepEqual(mine.keys, theirs.keys, 'same keys written');
    assert.deepEqual(mine.queues, theirs.queues);
    assert.deepEqual(mine.lists, theirs.lists);
    assert.ok(theirs.ttl > 1100 && theirs.ttl <= 1200, `python's job ttl ${theirs.ttl}`);
    assert.ok(Math.abs(mine.ttl - theirs.ttl) <= 2, `job key ttl: ours ${mine.ttl}, python ${theirs.ttl}`);
  });

  it('an at_front enqueue writes the job hash and queue order Python writes', async () => {
    py(
      server.port,
      `
q = Queue('default', connection=r, serializer=JSONSerializer)
q.enqueue_call('tasks.back', job_id='back')
q.enqueue_call('tasks.front', args=[1], job_id='front', at_front=True)
out(None)
`,
    );
    const theirs = await redis.hgetallBuffer('rq:job:front');
    const theirOrder = await redis.lrange('rq:queue:default', 0, -1);
    await redis.flushdb();
    const q = new Queue('default', { connection: redis });
    await q.enqueueCall({ func: 'tasks.back', jobId: 'back' });
    await q.enqueueCall({ func: 'tasks.front', args: [1], jobId: 'front', atFront: true });
    assert.deepEqual(theirOrder, ['front', 'back']);
    assert.deepEqual(await q.jobIds(), theirOrder);
    // rq 1.13 writes enqueue_at_front only for enqueue_at/Dependency; its scheduler re-enqueues a job
    // that has it at the front (scheduler.py), so a retried job would jump the queue.
    assertSameHash('front', theirs, await redis.hgetallBuffer('rq:job:front'));
  });

  it('jobs Python enqueues (plain, and with retry and a dependency) are read by us as Python reads them', async () => {
    const p = py<{ jobs: PyJob[]; job_ids: string[]; count: number; deferred: string[]; queued_ttl: number }>(
      server.port,
      `
q = Queue('default', connection=r, serializer=JSONSerializer)
j1 = q.enqueue('tasks.add', 2, 3, k='ü', job_id='py1', meta={'a': 1}, result_ttl=10, failure_ttl=20, ttl=30)
j2 = q.enqueue('tasks.mul', [1, 'x'], {'ü': None}, job_id='py2', retry=Retry(max=2, interval=[1, 5]),
               depends_on=j1, job_timeout='1h')
out(dict(
    jobs=[view(fetch('py1')), view(fetch('py2'))],
    job_ids=q.job_ids,
    count=q.count,
    deferred=DeferredJobRegistry('default', connection=r, serializer=JSONSerializer).get_job_ids(),
    queued_ttl=r.ttl('rq:job:py1'),
))
`,
    );
    const [p1, p2] = p.jobs as [PyJob, PyJob];
    const [j1, j2] = await Promise.all([Job.fetch('py1', { connection: redis }), Job.fetch('py2', { connection: redis })]);

    assertSameJob(j1, p1);
    assert.equal(j1.funcName, 'tasks.add');
    assert.deepEqual(j1.args, [2, 3]);
    assert.deepEqual(j1.kwargs, { k: 'ü' });
    assert.equal(j1.status, 'queued');
    assert.equal(j1.description, "tasks.add(2, 3, k='ü')");
    assert.deepEqual(j1.meta, { a: 1 });
    assert.equal(j1.timeout, 180);
    assert.equal(j1.resultTtl, 10);
    assert.equal(j1.failureTtl, 20);
    assert.equal(j1.ttl, 30);
    assert.ok(j1.enqueuedAt);

    assertSameJob(j2, p2);
    assert.equal(j2.funcName, 'tasks.mul');
    assert.deepEqual(j2.args, [[1, 'x'], { ü: null }]);
    assert.equal(j2.status, 'deferred');
    assert.equal(j2.timeout, 3600);
    assert.equal(j2.retriesLeft, 2);
    assert.deepEqual(j2.retryIntervals, [1, 5]);
    assert.deepEqual(j2.dependencyIds, ['py1']);
    assert.equal(j2.enqueuedAt, null, 'a deferred job was never enqueued');
    assert.equal(j2.callString, p2.call_string);

    const q = new Queue('default', { connection: redis });
    assert.deepEqual(await q.jobIds(), p.job_ids);
    assert.deepEqual(await q.jobIds(), ['py1']);
    assert.equal(await q.count(), p.count);
    assert.equal(await q.count(), 1);
    assert.deepEqual((await q.jobs()).map((j) => j.id), ['py1']);
    const deferred = new DeferredJobRegistry('default', { connection: redis });
    assert.deepEqual(await deferred.getJobIds(), p.deferred);
    assert.deepEqual(await deferred.getJobIds(), ['py2']);
    assert.equal(await deferred.contains('py2'), true);
  });

  it('Queue.all lists the same queues on both sides', async () => {
    await new Queue('ts-only', { connection: redis }).enqueue('tasks.a');
    await new Queue('shared', { connection: redis }).enqueue('tasks.b');
    const p = py<{ before: string[]; after: string[]; counts: Record<string, number> }>(
      server.port,
      `
names = lambda: sorted(q.name for q in Queue.all(connection=r, serializer=JSONSerializer))
before = names()
Queue('py-only', connection=r, serializer=JSONSerializer).enqueue('tasks.c')
Queue('shared', connection=r, serializer=JSONSerializer).enqueue('tasks.d')
out(dict(before=before, after=names(), counts={q.name: q.count for q in Queue.all(connection=r)}))
`,
    );
    assert.deepEqual(p.before, ['shared', 'ts-only']);
    assert.deepEqual(p.after, ['py-only', 'shared', 'ts-only']);
    const ours = await Queue.all({ connection: redis });
    assert.deepEqual(ours.map((q) => q.name), p.after);
    const counts = Object.fromEntries(await Promise.all(ours.map(async (q) => [q.name, await q.count()] as const)));
    assert.deepEqual(counts, p.counts);
    assert.deepEqual(counts, { 'py-only': 1, shared: 2, 'ts-only': 1 });
  });

  it('an abandoned started job: our cleanup is seen by Python, and Python\'s cleanup by us', async () => {
    const q = new Queue('default', { connection: redis });
    const started = new StartedJobRegistry('default', { connection: redis });
    const failed = new FailedJobRegistry('default', { connection: redis });
    // As a worker that died mid-job leaves it: out of the queue, status started, heartbeat score in the past.
    const abandon = async (jobId: string): Promise<Job> => {
      const job = await q.enqueueCall({ func: 'tasks.slow', args: [jobId, 'ü'], jobId, failureTtl: 300, meta: { m: 'é' } });
      assert.equal(await q.remove(job), 1);
      await job.setStatus('started');
      await redis.zadd(started.key, epochSeconds() - 60, job.id);
      return job;
    };

    // 1) Our cleanup, Python looks.
    await abandon('ours-cleaned');
    const ourCleanupAt = epochSeconds();
    await started.cleanup();
    const p1 = py<{ failed: string[]; started: string[]; status: string; exc_info: string | null; job: PyJob; latest: [number, string, string] }>(
      server.port,
      `
job = fetch('ours-cleaned')
latest = job.latest_result()
out(dict(
    failed=FailedJobRegistry('default', connection=r, serializer=JSONSerializer).get_job_ids(),
    started=StartedJobRegistry('default', connection=r, serializer=JSONSerializer).get_job_ids(),
    status=job.get_status(), exc_info=job.exc_info, job=view(job),
    latest=[int(latest.type.value), latest.exc_string, getattr(latest, 'worker_name', '')],
))
`,
    );
    // The failure result rq 2.x's cleanup writes (worker_name ''); rq 1.13 reads it as well.
    assert.deepEqual(p1.latest, [2, p1.exc_info, '']);
    assert.deepEqual(p1.failed, ['ours-cleaned']);
    assert.deepEqual(p1.started, []);
    assert.equal(p1.status, 'failed');
    assert.ok(p1.exc_info?.startsWith('Moved to FailedJobRegistry at '), `python's exc_info: ${JSON.stringify(p1.exc_info)}`);
    assert.match(p1.exc_info ?? '', /^Moved to FailedJobRegistry at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d/);
    assert.deepEqual(p1.job.meta, { m: 'é' });
    const ourTtl = await redis.ttl('rq:job:ours-cleaned');
    const ourScore = Number(await redis.zscore(failed.key, 'ours-cleaned'));

    // 2) Python's cleanup of an entry we wrote, we look.
    await abandon('py-cleaned');
    const before = epochSeconds();
    py(server.port, `out(StartedJobRegistry('default', connection=r, serializer=JSONSerializer).cleanup())`);
    assert.deepEqual(await failed.getJobIds(), ['ours-cleaned', 'py-cleaned']);
    assert.equal(await failed.contains('py-cleaned'), true);
    assert.deepEqual(await started.getJobIds(), []);
    const job = await Job.fetch('py-cleaned', { connection: redis });
    assert.equal(job.status, 'failed');
    // rq 2.x names the reason.
    const theirWording = RQ.label === '1.13' ? 'Moved to FailedJobRegistry at ' : 'Moved to FailedJobRegistry, due to AbandonedJobError, at ';
    assert.ok(job.excInfo?.startsWith(theirWording), `our excInfo: ${JSON.stringify(job.excInfo)}`);
    assert.equal(job.funcName, 'tasks.slow');
    assert.deepEqual(job.args, ['py-cleaned', 'ü']);
    assert.deepEqual(job.meta, { m: 'é' });

    // Both cleanups leave the same expiry: job key ttl and failed score = failure_ttl from the cleanup.
    const theirTtl = await redis.ttl('rq:job:py-cleaned');
    const theirScore = Number(await redis.zscore(failed.key, 'py-cleaned'));
    assert.ok(theirTtl > 290 && theirTtl <= 300, `python's cleanup ttl ${theirTtl}`);
    // Ours was read after a Python start-up (seconds on a busy machine); theirs right after their cleanup.
    assert.ok(theirTtl >= ourTtl - 1 && theirTtl - ourTtl <= epochSeconds() - ourCleanupAt + 1, `job ttl after cleanup: ours ${ourTtl}, python ${theirTtl}`);
    assert.ok(theirScore >= before + 300 && theirScore <= epochSeconds() + 300, `python's failed score ${theirScore}`);
    // Python's cleanup ran a python start-up (seconds on a busy machine) after ours.
    assert.ok(theirScore >= ourScore - 1 && theirScore - ourScore <= epochSeconds() - ourCleanupAt + 1, `failed score: ours ${ourScore}, python ${theirScore}`);
  });

  it("a job rq 2.x started (member <id>:<execution>): our intermediate recovery leaves it, our cleanup fails it as 2.x does", { skip: rq.label === '1.13' ? 'rq 1.13 has no executions' : false }, async () => {
    // What 2.10's worker writes when it starts a job (executions.py Execution.create), with the
    // heartbeat already in the past, and the id still in the intermediate list (its worker died
    // between the two steps of 2.x's dequeue, or before the list was cleaned).
    const p = py<{ member: string; exec: string }>(
      server.port,
      `
from rq.executions import Execution
q = Queue('default', connection=r, serializer=JSONSerializer)
job = q.enqueue_call('tasks.slow', job_id='py-started', failure_ttl=300)
q.remove(job)
with r.pipeline() as p:
    e = Execution.create(job, 60, p)
    job.set_status('started', pipeline=p)
    p.execute()
r.rpush('rq:intermediate:default', job.id)
out(dict(member=e.composite_key, exec=e.id))
`,
    );
    assert.equal(p.member, `py-started:${p.exec}`);
    assert.notEqual(await redis.zscore('rq:wip:default', p.member), null);
    const recovered = await runScript(
      redis,
      'rqRecoverIntermediate',
      { intermediate: 'rq:intermediate:default', queue: 'rq:queue:default', wip: 'rq:wip:default', seen: 'rq:queue:default:intermediate:first_seen:py-started', executions: 'rq:executions:py-started', job: 'rq:job:py-started' },
      { id: 'py-started', grace: 0, field: 'rqts_orphaned' },
    );
    assert.equal(recovered, 'started', 'a started job is not put back on its queue');
    assert.deepEqual(await redis.lrange('rq:queue:default', 0, -1), []);

    await redis.zadd('rq:wip:default', epochSeconds() - 10, p.member);
    const outcomes = await new StartedJobRegistry('default', { connection: redis }).cleanupExpired();
    assert.deepEqual([...outcomes], [['py-started', 'failed']]);
    const seen = py<{ status: string; exc_info: string; latest: [number, string, string]; executions: unknown[]; keys: string[]; failed: string[] }>(
      server.port,
      `
job = fetch('py-started')
latest = job.latest_result()
out(dict(status=job.get_status(), exc_info=job.exc_info, latest=[int(latest.type.value), latest.exc_string, latest.worker_name],
         executions=[x.id for x in job.get_executions()], keys=sorted(k.decode() for k in r.keys('rq:execution*')),
         failed=FailedJobRegistry('default', connection=r).get_job_ids()))
`,
    );
    assert.equal(seen.status, 'failed');
    assert.match(seen.exc_info, /^Moved to FailedJobRegistry, due to AbandonedJobError, at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\+00:00$/);
    assert.deepEqual(seen.latest, [2, seen.exc_info, '']);
    assert.deepEqual(seen.executions, []);
    assert.deepEqual(seen.keys, [], 'execution hash and executions set removed');
    assert.deepEqual(seen.failed, ['py-started']);
  });

  it('our cancel() and delete() are seen by Python', async () => {
    const q = new Queue('default', { connection: redis });
    const canceled = await q.enqueueCall({ func: 'tasks.x', args: [1], jobId: 'to-cancel' });
    const plain = await q.enqueueCall({ func: 'tasks.y', args: [2], jobId: 'to-delete' });
    await canceled.cancel();
    assert.equal(canceled.status, 'canceled');
    assert.deepEqual(await new CanceledJobRegistry('default', { connection: redis }).getJobIds(), ['to-cancel']);

    const afterCancel = py<{ status: string; is_canceled: boolean; registry: string[]; job_ids: string[] }>(
      server.port,
      `
job = fetch('to-cancel')
out(dict(
    status=job.get_status(), is_canceled=job.is_canceled,
    registry=CanceledJobRegistry('default', connection=r, serializer=JSONSerializer).get_job_ids(),
    job_ids=Queue('default', connection=r, serializer=JSONSerializer).job_ids,
))
`,
    );
    assert.equal(afterCancel.status, 'canceled');
    assert.equal(afterCancel.is_canceled, true);
    assert.deepEqual(afterCancel.registry, ['to-cancel']);
    assert.deepEqual(afterCancel.job_ids, ['to-delete']);

    await canceled.delete();
    await plain.delete();
    const afterDelete = py<{ fetch: Record<string, string>; registry: string[]; job_ids: string[]; keys: string[] }>(
      server.port,
      `
res = {}
for job_id in ['to-cancel', 'to-delete']:
    try:
        fetch(job_id)
        res[job_id] = 'fetched'
    except NoSuchJobError:
        res[job_id] = 'NoSuchJobError'
out(dict(
    fetch=res,
    registry=CanceledJobRegistry('default', connection=r, serializer=JSONSerializer).get_job_ids(),
    job_ids=Queue('default', connection=r, serializer=JSONSerializer).job_ids,
    keys=sorted(k.decode() for k in r.keys('rq:job:*')),
))
`,
    );
    assert.deepEqual(afterDelete.fetch, { 'to-cancel': 'NoSuchJobError', 'to-delete': 'NoSuchJobError' });
    assert.deepEqual(afterDelete.registry, []);
    assert.deepEqual(afterDelete.job_ids, []);
    assert.deepEqual(afterDelete.keys, []);
    await assert.rejects(Job.fetch('to-cancel', { connection: redis }), NoSuchJobError);
  });

  // Values whose Python spelling differs from JavaScript's: float exponents (`1e-05` vs `0.00001`,
  // `1.5e-07` vs `1.5e-7`) in json.dumps and repr, and characters repr() escapes (str.isprintable()).
  it('small floats are written as Python writes them (data and description)', async () => {
    const args = [0.00001, 1.5e-7, 0.0001, -2.5e-5];
    const p = py<{ dumps: string; call_string: string }>(
      server.port,
      `
from rq.utils import get_call_string
out(dict(dumps=JSONSerializer.dumps(('tasks.f', None, V, {})).decode(), call_string=get_call_string('tasks.f', V, {}, max_length=75)))
`,
      args,
    );
    const job = await new Queue('default', { connection: redis }).enqueueCall({ func: 'tasks.f', args, jobId: 'floats' });
    assert.equal(inflateSync(job.rawData!).toString(), p.dumps);
    assert.equal(job.description, p.call_string);
  });

  it('descriptions escape the characters Python repr() escapes', async () => {
    const args = ['no\u00a0break', 'zero\u200bwidth', 'soft\u00adhyphen', 'line\u2028sep', 'ideographic\u3000space'];
    const p = py<{ call_string: string }>(
      server.port,
      `
from rq.utils import get_call_string
out(dict(call_string=get_call_string('tasks.f', V, {}, max_length=75)))
`,
      args,
    );
    const job = await new Queue('default', { connection: redis }).enqueueCall({ func: 'tasks.f', args, jobId: 'unprintable' });
    assert.equal(job.description, p.call_string);
    // Python itself reads our data back unchanged.
    const back = py<{ args: string[] }>(server.port, `out(dict(args=fetch('unprintable').args))`);
    assert.deepEqual(back.args, args);
  });
});
