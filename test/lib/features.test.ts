import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import {
  enqueueScheduledJobs,
  InvalidOperationError,
  Job,
  NoSuchJobError,
  Queue,
  Scheduler,
  sendShutdownCommand,
  sendStopJobCommand,
  SimpleWorker,
  Worker,
  type WorkerOptions,
} from '../../lib/index.js';
import { useRedis, waitFor } from '../helpers/redis.js';
import { collectingLogger, repoRoot, task } from '../helpers/worker.js';

let redis: Redis;

useRedis((_server, r) => {
  redis = r;
});

const opts = (extra: Partial<WorkerOptions> = {}): WorkerOptions => ({
  connection: redis,
  installSignalHandlers: false,
  paths: [repoRoot],
  logger: collectingLogger(),
  ...extra,
});

describe('dependencies', () => {
  it('defers a job until its dependencies finish, then enqueues it once', async () => {
    const q = new Queue('deps', { connection: redis });
    const a = await q.enqueue(task('add'), 1, 1);
    const b = await q.enqueue(task('add'), 2, 2);
    const c = await q.enqueueCall({ func: task('add'), args: [3, 3], dependsOn: [a, b.id] });
    assert.equal(await c.getStatus(), 'deferred');
    assert.deepEqual(await redis.zrange('rq:deferred:deps', '0', '-1'), [c.id]);
    assert.deepEqual((await redis.smembers(`rq:job::${c.id}:dependencies`)).sort(), [a.id, b.id].sort());
    assert.deepEqual(await redis.smembers(`rq:job:${a.id}:dependents`), [c.id]);
    assert.deepEqual(await q.jobIds(), [a.id, b.id], 'the dependent is not queued');
    const h = await redis.hgetall(c.key);
    assert.equal(h.dependency_ids, JSON.stringify([a.id, b.id]).replace(',', ', '));
    assert.equal(h.enqueued_at, undefined, 'rq writes no enqueued_at for a deferred job');

    await new SimpleWorker(['deps'], opts()).work({ burst: true });
    assert.equal(await c.getStatus(), 'finished');
    assert.equal(await redis.zcard('rq:deferred:deps'), 0);
    // b finished last and enqueued c: its set is done with; a's keeps c until it expires with a (as rq).
    assert.equal(await redis.exists(`rq:job:${b.id}:dependents`), 0);
    assert.ok((await redis.ttl(`rq:job:${a.id}:dependents`)) > 0);
  });

  it('enqueues at once when the dependencies are already finished', async () => {
    const q = new Queue('deps2', { connection: redis });
    const a = await q.enqueue(task('add'), 1, 1);
    await new SimpleWorker(['deps2'], opts()).work({ burst: true });
    const c = await q.enqueueCall({ func: task('add'), args: [3, 3], dependsOn: a });
    assert.equal(await c.getStatus(), 'queued');
    assert.deepEqual(await q.jobIds(), [c.id]);
  });

  it('a failed dependency leaves the dependent deferred unless it allows failures', async () => {
    const q = new Queue('deps3', { connection: redis });
    const bad = await q.enqueue(task('boom'));
    const strict = await q.enqueueCall({ func: task('add'), args: [1, 1], dependsOn: bad });
    const lenient = await q.enqueueCall({ func: task('add'), args: [2, 2], dependsOn: bad, allowDependencyFailures: true });
    await new SimpleWorker(['deps3'], opts()).work({ burst: true });
    assert.equal(await bad.getStatus(), 'failed');
    assert.equal(await strict.getStatus(), 'deferred');
    assert.equal(await lenient.getStatus(), 'finished');
    assert.equal((await redis.hgetall(lenient.key)).allow_dependency_failures, '1');
  });

  it('a dependency id that does not exist is refused and nothing is written', async () => {
    const q = new Queue('deps4', { connection: redis });
    await assert.rejects(q.enqueueCall({ func: task('add'), args: [1, 1], dependsOn: 'no-such-job', jobId: 'dep-child' }), (e: unknown) => e instanceof NoSuchJobError && /no-such-job does not exist/.test(e.message));
    assert.equal(await redis.exists('rq:job:dep-child'), 0);
    assert.equal(await redis.exists('rq:deferred:deps4'), 0);
  });

  it('dependencies finishing on two workers at once enqueue the dependent exactly once', async () => {
    for (let round = 0; round < 5; round++) {
      await redis.flushdb();
      const qa = new Queue('race-a', { connection: redis });
      const qb = new Queue('race-b', { connection: redis });
      const a = await qa.enqueue(task('slowAdd'), 1, 1, 30);
      const b = await qb.enqueue(task('slowAdd'), 2, 2, 30);
      const c = await qa.enqueueCall({ func: task('record'), args: ['dependent-runs', 'c'], dependsOn: [a, b] });
      const wa = new SimpleWorker(['race-a'], opts());
      const wb = new SimpleWorker(['race-b'], opts());
      await Promise.all([wa.work({ burst: true }), wb.work({ burst: true })]);
      // Whichever finished last enqueued it; run what is left.
      await new SimpleWorker(['race-a'], opts()).work({ burst: true });
      assert.equal(await c.getStatus(), 'finished');
      assert.deepEqual(await redis.lrange('dependent-runs', 0, -1), ['c'], `round ${round}: ran exactly once`);
    }
  });
});

describe('scheduling', () => {
  it('enqueueAt / enqueueIn write rq:scheduled:<q> with the run time, status scheduled', async () => {
    const q = new Queue('sched', { connection: redis });
    const when = new Date(Date.now() + 3600_000);
    const job = await q.enqueueAt(when, task('add'), 1, 2);
    assert.equal(await job.getStatus(), 'scheduled');
    assert.equal(Number(await redis.zscore('rq:scheduled:sched', job.id)), Math.floor(when.getTime() / 1000));
    assert.ok(await redis.sismember('rq:queues', 'rq:queue:sched'));
    assert.equal(await q.count(), 0);
    const later = await q.enqueueIn(90, { func: task('add'), args: [3, 4], jobId: 'in-90' });
    const score = Number(await redis.zscore('rq:scheduled:sched', later.id));
    assert.ok(Math.abs(score - (Date.now() / 1000 + 90)) < 3);
  });

  it('the scheduler moves due jobs under the per-queue lock, each once', async () => {
    const q = new Queue('sched2', { connection: redis });
    const due = await q.enqueueAt(new Date(Date.now() - 1000), task('add'), 1, 2);
    const notYet = await q.enqueueIn(3600, task('add'), 3, 4);
    const s1 = new Scheduler(redis, ['sched2'], undefined, 'one');
    const s2 = new Scheduler(redis, ['sched2'], undefined, 'two');
    const [m1, m2] = await Promise.all([s1.runOnce(), s2.runOnce()]);
    assert.equal(m1 + m2, 1, 'moved once');
    assert.deepEqual([...s1.lockedQueues, ...s2.lockedQueues], ['sched2'], 'one scheduler holds the lock');
    const ttl = await redis.ttl('rq:scheduler-lock:sched2');
    assert.ok(ttl > 55 && ttl <= 61, `lock ttl ${ttl}`);
    assert.deepEqual(await q.jobIds(), [due.id]);
    assert.equal(await due.getStatus(), 'queued');
    assert.equal(await notYet.getStatus(), 'scheduled');
    await s1.stop();
    await s2.stop();
    assert.equal(await redis.exists('rq:scheduler-lock:sched2'), 0, 'released');
    assert.equal(await enqueueScheduledJobs(redis, 'sched2'), 0);
  });

  it('a worker with the scheduler runs a past-due scheduled job in burst mode, one without does not', async () => {
    const q = new Queue('sched3', { connection: redis });
    const job = await q.enqueueAt(new Date(Date.now() - 5000), task('add'), 2, 3);
    await new SimpleWorker(['sched3'], opts()).work({ burst: true });
    assert.equal(await job.getStatus(), 'scheduled');
    await new SimpleWorker(['sched3'], opts({ withScheduler: true })).work({ burst: true });
    assert.equal(await job.getStatus(), 'finished');
  });

  it('a retry with an interval is scheduled and then run by the scheduler', async () => {
    const q = new Queue('sched4', { connection: redis });
    const job = await q.enqueueCall({ func: task('boom'), retry: { max: 1, interval: 1 } });
    const w = new SimpleWorker(['sched4'], opts({ withScheduler: true }));
    const done = w.work();
    await waitFor(async () => (await redis.hget(job.key, 'retries_left')) === '0' && (await job.getStatus()) === 'failed', 'the retried job to fail for good', 10_000, 50);
    w.requestStop();
    await done;
    assert.equal(await redis.hget(w.key, 'failed_job_count'), '2', 'ran twice: once, then once more after the interval');
  });
});

describe('callbacks', () => {
  it('onSuccess and onFailure run with (job, connection, result|error)', async () => {
    const q = new Queue('cb', { connection: redis });
    const ok = await q.enqueueCall({ func: task('add'), args: [2, 3], onSuccess: task('onOk') });
    const bad = await q.enqueueCall({ func: task('boom'), args: ['kaput'], onFailure: task('onFail') });
    assert.equal((await redis.hgetall(ok.key)).success_callback_name, task('onOk'));
    await new Worker(['cb'], opts()).work({ burst: true });
    assert.deepEqual(await redis.lrange('callbacks', 0, -1), [`ok:${ok.id}:5`, `fail:${bad.id}:kaput`]);
  });

  it('a success callback that throws fails the job', async () => {
    const q = new Queue('cb2', { connection: redis });
    const job = await q.enqueueCall({ func: task('add'), args: [2, 3], onSuccess: task('onOkThrows') });
    await new SimpleWorker(['cb2'], opts()).work({ burst: true });
    const j = await Job.fetch(job.id, { connection: redis });
    assert.equal(j.status, 'failed');
    assert.match(j.excInfo ?? '', /callback broke/);
  });


  it('a callback past the limit (rq: 60 s; here callbackTimeout 1) fails the job with JobTimeoutException', async () => {
    const q = new Queue('cb3', { connection: redis });
    const job = await q.enqueueCall({ func: task('add'), args: [2, 3], onSuccess: task('slowCallback') });
    await new Worker(['cb3'], opts({ callbackTimeout: 1 })).work({ burst: true });
    const j = await Job.fetch(job.id, { connection: redis });
    assert.equal(j.status, 'failed');
    assert.match(j.excInfo ?? '', /JobTimeoutException: Success callback test\.fixtures\.tasks\.slowCallback exceeded maximum timeout value \(1 seconds\)/);
  });
});

describe('worker commands over rq:pubsub:<name>', () => {
  it('stop-job kills the horse and the job ends stopped; the worker goes on', async () => {
    const q = new Queue('cmd', { connection: redis });
    const long = await q.enqueue(task('sleepForever'));
    const next = await q.enqueue(task('add'), 1, 1);
    const w = new Worker(['cmd'], opts({ name: 'cmd-worker' }));
    const done = w.work({ burst: true });
    await waitFor(async () => (await long.getStatus()) === 'started', 'the long job to start');
    await assert.rejects(sendStopJobCommand(redis, next.id), InvalidOperationError);
    await sendStopJobCommand(redis, long.id);
    await done;
    const stopped = await Job.fetch(long.id, { connection: redis });
    assert.equal(stopped.status, 'stopped');
    assert.match(stopped.excInfo ?? '', /Job stopped by user, work-horse terminated\./);
    assert.equal(await next.getStatus(), 'finished');
  });

  it('shutdown makes an idle worker stop', async () => {
    const w = new Worker(['cmd2'], opts({ name: 'cmd-idle' }));
    const done = w.work();
    await waitFor(async () => (await redis.hget(w.key, 'state')) === 'idle', 'the worker to idle');
    await waitFor(async () => (await sendShutdownCommand(redis, 'cmd-idle')) === 1, 'the worker to subscribe');
    assert.equal(await done, false);
    assert.ok(await redis.hget(w.key, 'death'));
  });
});
