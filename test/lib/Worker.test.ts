import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { inflateSync } from 'node:zlib';
import { describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import {
  PluginError,
  Queue,
  SimpleWorker,
  Worker,
  createLogger,
  epochSeconds,
  utcformat,
  utcparse,
  type Job,
  type Outcome,
  type RqPlugin,
  type WorkerOptions,
} from '../../lib/index.js';
import { cleanRegistries } from '../../plugins/MaintenancePlugin.js';
import { useRedis, waitFor } from '../helpers/redis.js';
import { assertScoreNear, assertTtlNear, collectingLogger, excText, repoRoot, returnValue, status, streamEntries, task } from '../helpers/worker.js';

let redis: Redis;

useRedis((_server, r) => {
  redis = r;
});

function makeWorker(queues: string[] = ['q'], options: Partial<WorkerOptions> = {}) {
  const logger = collectingLogger();
  const worker = new Worker(queues, { connection: redis, installSignalHandlers: false, paths: [repoRoot], logger, ...options });
  return { worker, logger };
}

const queue = (name = 'q'): Queue => new Queue(name, { connection: redis });

describe('Worker: work() in burst mode', () => {
  it('returns false on empty queues, true once a job was run', async () => {
    const { worker, logger } = makeWorker();
    assert.equal(await worker.work({ burst: true }), false);
    assert.ok(logger.has('No more work, burst finished.'), logger.lines.join('\n'));
    assert.ok(logger.has('Registering death.'));
    const job = await queue().enqueue(task('add'), 1, 2);
    assert.equal(await worker.work({ burst: true }), true, 'the same worker works again after a burst');
    assert.equal(await status(redis, job.id), 'finished');
  });

  it('runs jobs in a separate, warm work horse process', async () => {
    const q = queue();
    const a = await q.enqueue(task('pid'));
    const b = await q.enqueue(task('pid'));
    const { worker } = makeWorker();
    assert.equal(await worker.work({ burst: true }), true);
    const pidA = await returnValue(redis, a.id);
    const pidB = await returnValue(redis, b.id);
    assert.equal(typeof pidA, 'number');
    assert.notEqual(pidA, process.pid, 'the job ran in a child process');
    assert.equal(pidB, pidA, 'both jobs ran in the same warm horse');
  });

  it("writes rq's data for a finished job", async () => {
    const job = await queue().enqueue(task('add'), 2, 3);
    const { worker } = makeWorker();
    await worker.work({ burst: true });
    const h = await redis.hgetall(job.key);
    assert.equal(h.status, 'finished');
    const enqueued = utcparse(h.enqueued_at)!;
    const started = utcparse(h.started_at)!;
    const ended = utcparse(h.ended_at)!;
    assert.ok(enqueued && started && ended, JSON.stringify(h));
    assert.ok(enqueued <= started && started <= ended, `enqueued ${h.enqueued_at} <= started ${h.started_at} <= ended ${h.ended_at}`);
    assert.equal(h.worker_name, worker.name);
    assertScoreNear(await redis.zscore('rq:finished:q', job.id), 500, 'rq:finished:q');
    assert.equal(await redis.zcard('rq:wip:q'), 0, 'out of the StartedJobRegistry');
    const entries = await streamEntries(redis, job.id);
    assert.equal(entries.length, 1);
    assert.equal(entries[0]!.type, '1');
    assert.equal(entries[0]!.return_value, Buffer.from('5').toString('base64'));
    assertTtlNear(await redis.ttl(job.key), 500, 'job');
    assertTtlNear(await redis.ttl(`rq:results:${job.id}`), 500, 'results stream');
    assert.equal(await queue().count(), 0);
  });

  it('resultTtl 0 deletes the job; -1 keeps it forever; the job\'s own resultTtl wins', async () => {
    const q = queue();
    const gone = await q.enqueue(task('add'), 1, 1);
    await makeWorker(['q'], { resultTtl: 0 }).worker.work({ burst: true });
    assert.equal(await redis.exists(gone.key), 0, 'job deleted');
    assert.equal(await redis.exists(`rq:results:${gone.id}`), 0, 'no result stream');
    assert.equal(await redis.zscore('rq:finished:q', gone.id), null, 'not in rq:finished');

    const forever = await q.enqueue(task('add'), 1, 1);
    await makeWorker(['q'], { resultTtl: -1 }).worker.work({ burst: true });
    assert.equal(await status(redis, forever.id), 'finished');
    assert.equal(await redis.ttl(forever.key), -1);
    assert.equal(await redis.zscore('rq:finished:q', forever.id), 'inf');

    const own = await q.enqueueCall({ func: task('add'), args: [1, 1], resultTtl: 100 });
    await makeWorker(['q'], { resultTtl: 0 }).worker.work({ burst: true });
    assert.equal(await status(redis, own.id), 'finished', "the job's result_ttl overrides the worker's 0");
    assertTtlNear(await redis.ttl(own.key), 100, 'job');
    assertScoreNear(await redis.zscore('rq:finished:q', own.id), 100, 'rq:finished:q');
  });

  it("writes rq's data for a failed job", async () => {
    const job = await queue().enqueue(task('boom'));
    const { worker } = makeWorker();
    await worker.work({ burst: true });
    assert.equal(await status(redis, job.id), 'failed');
    assertScoreNear(await redis.zscore('rq:failed:q', job.id), 31536000, 'rq:failed:q');
    assert.equal(await redis.zcard('rq:wip:q'), 0);
    const entries = await streamEntries(redis, job.id);
    assert.equal(entries.length, 1);
    assert.equal(entries[0]!.type, '2');
    const exc = inflateSync(Buffer.from(entries[0]!.exc_string!, 'base64')).toString('utf8');
    assert.match(exc, /TypeError: nope/);
    assert.ok(exc.includes('test/fixtures/tasks.ts'), `the traceback names the job's file:\n${exc}`);
    assertTtlNear(await redis.ttl(job.key), 31536000, 'job');
    assert.equal(await redis.ttl(`rq:results:${job.id}`), -1, 'no TTL on the stream unless the job sets failure_ttl');
    const h = await redis.hgetall(job.key);
    assert.equal(h.origin, 'q');
    assert.ok(utcparse(h.enqueued_at) && utcparse(h.ended_at));
  });

  it("the job's failureTtl applies to the job, its failed entry and its result stream", async () => {
    const job = await queue().enqueueCall({ func: task('boom'), failureTtl: 100 });
    await makeWorker().worker.work({ burst: true });
    assert.equal(await status(redis, job.id), 'failed');
    assertTtlNear(await redis.ttl(job.key), 100, 'job');
    assertTtlNear(await redis.ttl(`rq:results:${job.id}`), 100, 'results stream');
    assertScoreNear(await redis.zscore('rq:failed:q', job.id), 100, 'rq:failed:q');
  });

  it('keeps the meta a job writes about itself from the horse', async () => {
    const job = await queue().enqueue(task('touchMeta'), 'progress', 100);
    await makeWorker().worker.work({ burst: true });
    assert.equal(await returnValue(redis, job.id), job.id, 'getCurrentJob() in the horse is the job');
    assert.equal(await status(redis, job.id), 'finished');
    assert.equal(await redis.hget(job.key, 'meta'), '{"progress": 100}');
  });
});

describe('Worker: its Redis hash', () => {
  it('registers, reports busy/idle, counts jobs and registers its death', async () => {
    const q = queue();
    const ok = await q.enqueue(task('add'), 1, 2);
    const bad = await q.enqueue(task('boom'));
    const slow = await q.enqueue(task('slowAdd'), 1, 2, 400);
    const { worker } = makeWorker();
    const key = `rq:worker:${worker.name}`;
    const running = worker.work({ burst: true });
    try {
      const busy = await waitFor(async () => {
        const h = await redis.hgetall(key);
        return h.state === 'busy' && h.current_job === slow.id ? h : null;
      }, 'the worker to be busy with the slow job');
      assert.ok(utcparse(busy.birth), `birth ${busy.birth}`);
      assert.ok(utcparse(busy.last_heartbeat), `last_heartbeat ${busy.last_heartbeat}`);
      assert.equal(busy.queues, 'q');
      assert.equal(busy.pid, String(process.pid));
      assert.equal(busy.hostname, hostname());
      assert.match(busy.ip_address ?? '', /^127\.0\.0\.1:\d+$/);
      assert.equal(busy.successful_job_count, '1');
      assert.equal(busy.failed_job_count, '1');
      assert.equal(busy.death, undefined);
      assert.equal(await redis.sismember('rq:workers', key), 1);
      assert.equal(await redis.sismember('rq:workers:q', key), 1);
      const ttl = await redis.ttl(key);
      assert.ok(ttl > 0 && ttl <= 480, `worker key TTL while busy: ${ttl}`);
      assert.ok((await redis.zscore('rq:wip:q', slow.id)) !== null, 'the running job is in rq:wip:q');
      assert.equal(await status(redis, slow.id), 'started');
    } finally {
      await running;
    }
    const h = await redis.hgetall(key);
    assert.equal(h.state, 'idle');
    assert.equal(h.current_job, undefined, 'current_job removed after the job');
    assert.equal(h.successful_job_count, '2');
    assert.equal(h.failed_job_count, '1');
    assert.ok(Number(h.total_working_time) >= 0.35, `total_working_time ${h.total_working_time}`);
    assert.ok(utcparse(h.death), `death ${h.death}`);
    assert.equal(await redis.sismember('rq:workers', key), 0);
    assert.equal(await redis.sismember('rq:workers:q', key), 0);
    const ttl = await redis.ttl(key);
    assert.ok(ttl > 0 && ttl <= 60, `TTL after death: ${ttl}`);
    assert.deepEqual([await status(redis, ok.id), await status(redis, bad.id)], ['finished', 'failed']);
  });

  it('Worker.all, Worker.count and Worker.findByKey read registered workers', async () => {
    const q = queue();
    await q.enqueue(task('add'), 1, 2);
    await q.enqueue(task('boom'));
    const slow = await q.enqueue(task('slowAdd'), 1, 2, 500);
    const { worker } = makeWorker(['q', 'other']);
    const running = worker.work({ burst: true });
    try {
      await waitFor(async () => (await redis.hget(worker.key, 'current_job')) === slow.id, 'the slow job to start');
      assert.equal(await Worker.count({ connection: redis }), 1);
      assert.equal(await Worker.count({ queue: q }), 1);
      assert.equal(await Worker.count({ queue: queue('nobody') }), 0);
      const all = await Worker.all({ connection: redis });
      assert.deepEqual(all.map((w) => w.name), [worker.name]);
      assert.deepEqual((await Worker.all({ queue: queue('other') })).map((w) => w.name), [worker.name]);
      assert.deepEqual(await Worker.all({ queue: queue('nobody') }), []);
      const found = await Worker.findByKey(`rq:worker:${worker.name}`, { connection: redis });
      assert.ok(found);
      assert.equal(found.name, worker.name);
      assert.equal(found.hostname, hostname());
      assert.equal(found.pid, process.pid);
      assert.deepEqual(found.queueNames, ['q', 'other']);
      assert.equal(found.state, 'busy');
      assert.equal(found.currentJobId, slow.id);
      assert.ok(found.lastHeartbeat instanceof Date && Math.abs(found.lastHeartbeat.getTime() - Date.now()) < 10_000);
      assert.ok(found.birthDate instanceof Date && found.birthDate <= found.lastHeartbeat);
      assert.equal(found.successfulJobCount, 1);
      assert.equal(found.failedJobCount, 1);
      assert.ok(found.totalWorkingTime > 0, `totalWorkingTime ${found.totalWorkingTime}`);
    } finally {
      await running;
    }
    assert.equal(await Worker.count({ connection: redis }), 0, 'a dead worker leaves rq:workers');
    assert.deepEqual(await Worker.all({ connection: redis }), []);
  });

  it('findByKey drops a key in rq:workers whose hash is gone', async () => {
    await redis.sadd('rq:workers', 'rq:worker:ghost');
    assert.equal(await Worker.findByKey('rq:worker:ghost', { connection: redis }), null);
    assert.equal(await redis.sismember('rq:workers', 'rq:worker:ghost'), 0);
  });

  it('refuses to start under the name of a live worker', async () => {
    const now = utcformat(new Date());
    await redis.hset('rq:worker:dup', { birth: now, last_heartbeat: now, queues: 'q', pid: '1', state: 'busy' });
    const job = await queue().enqueue(task('add'), 1, 2);
    const { worker } = makeWorker(['q'], { name: 'dup' });
    await assert.rejects(worker.work({ burst: true }), /There exists an active worker named 'dup'/);
    assert.equal(await redis.hget('rq:worker:dup', 'pid'), '1', "the live worker's hash is left alone");
    assert.equal(await redis.hexists('rq:worker:dup', 'death'), 0);
    assert.equal(await status(redis, job.id), 'queued');
  });
});

describe('Worker: dequeue', () => {
  it('takes jobs in queue priority order', async () => {
    await queue('low').enqueue(task('record'), 'order', 'low');
    await queue('high').enqueue(task('record'), 'order', 'high1');
    await queue('high').enqueue(task('record'), 'order', 'high2');
    await makeWorker(['high', 'low']).worker.work({ burst: true });
    assert.deepEqual(await redis.lrange('order', 0, -1), ['high1', 'high2', 'low']);
  });

  it('maxJobs: 1 stops after one job', async () => {
    const q = queue();
    const first = await q.enqueue(task('add'), 1, 2);
    const second = await q.enqueue(task('add'), 3, 4);
    const { worker, logger } = makeWorker(['q'], { maxJobs: 1 });
    assert.equal(await worker.work({ burst: true }), true);
    assert.equal(await status(redis, first.id), 'finished');
    assert.equal(await status(redis, second.id), 'queued');
    assert.deepEqual(await q.jobIds(), [second.id]);
    assert.ok(logger.has('finished executing 1 jobs'));
  });

  it('skips a queued id whose job hash was deleted', async () => {
    const q = queue();
    const deleted = await q.enqueue(task('add'), 1, 2);
    const next = await q.enqueue(task('add'), 3, 4);
    await redis.del(deleted.key);
    const { worker, logger } = makeWorker();
    assert.equal(await worker.work({ burst: true }), true);
    assert.equal(await redis.exists(deleted.key), 0, 'the deleted job is not recreated');
    assert.equal(await status(redis, next.id), 'finished');
    assert.equal(await returnValue(redis, next.id), 7);
    assert.equal(await q.count(), 0);
    assert.equal(await redis.llen('rq:queue:q:intermediate'), 0);
    assert.equal(await redis.zcard('rq:wip:q'), 0);
    assert.ok(logger.has(deleted.id));
  });

  it('does nothing while rq:suspended is set (burst: returns false)', async () => {
    await redis.set('rq:suspended', '1');
    const job = await queue().enqueue(task('add'), 1, 2);
    const { worker } = makeWorker();
    assert.equal(await worker.work({ burst: true }), false);
    assert.equal(await status(redis, job.id), 'queued');
    assert.deepEqual(await queue().jobIds(), [job.id]);
  });
});

describe('Worker: jobs that go wrong', () => {
  it('fails a job that outlives its timeout, then runs the next job in a new horse', async () => {
    const q = queue();
    const before = await q.enqueue(task('pid'));
    const slow = await q.enqueueCall({ func: task('sleepForever'), timeout: 1 });
    const afterJob = await q.enqueue(task('pid'));
    const started = Date.now();
    await makeWorker().worker.work({ burst: true });
    assert.ok(Date.now() - started < 8000, 'the timeout fired after about 1 s');
    assert.equal(await status(redis, slow.id), 'failed');
    assert.ok((await redis.zscore('rq:failed:q', slow.id)) !== null);
    assert.match(await excText(redis, slow.id), /JobTimeoutException: Task exceeded maximum timeout value \(1 seconds\)/);
    assert.equal(await status(redis, afterJob.id), 'finished');
    assert.notEqual(await returnValue(redis, afterJob.id), await returnValue(redis, before.id), 'the timed-out horse was replaced');
  });

  it('fails a job that blocks the horse\'s event loop past its timeout', async () => {
    const q = queue();
    const spin = await q.enqueueCall({ func: task('spin'), timeout: 1 });
    const next = await q.enqueue(task('add'), 1, 2);
    await makeWorker().worker.work({ burst: true });
    assert.equal(await status(redis, spin.id), 'failed');
    assert.match(await excText(redis, spin.id), /JobTimeoutException: Task exceeded maximum timeout value \(1 seconds\)/);
    assert.equal(await returnValue(redis, next.id), 3);
  });

  it('fails a job whose horse exits or is killed, and goes on', async () => {
    const q = queue();
    const exited = await q.enqueue(task('exit'), 1);
    const killed = await q.enqueue(task('killSelf'));
    const next = await q.enqueue(task('add'), 1, 2);
    const { worker } = makeWorker();
    await worker.work({ burst: true });
    assert.equal(await status(redis, exited.id), 'failed');
    assert.ok((await redis.zscore('rq:failed:q', exited.id)) !== null);
    assert.match(await excText(redis, exited.id), /Work-horse terminated unexpectedly; waitpid returned 256(?!\d)/);
    assert.equal(await status(redis, killed.id), 'failed');
    assert.match(await excText(redis, killed.id), /Work-horse terminated unexpectedly; waitpid returned 9 \(signal 9\)/);
    assert.equal(await returnValue(redis, next.id), 3);
    assert.equal(await redis.hget(worker.key, 'failed_job_count'), '2');
    assert.equal(await redis.zcard('rq:wip:q'), 0);
  });

  it('fails jobs it cannot load or whose result it cannot store, with a clear reason', async () => {
    const q = queue();
    const noExport = await q.enqueue(task('nope'));
    const noModule = await q.enqueue('nosuch.module.fn');
    const broken = await q.enqueue('test.fixtures.broken_import.fn');
    const corrupt = await q.enqueue(task('add'), 1, 2);
    await redis.hset(corrupt.key, 'data', 'garbage');
    const unserializable = await q.enqueue(task('unserializable'));
    const good = await q.enqueue(task('add'), 20, 22);
    const { worker } = makeWorker();
    await worker.work({ burst: true });
    const expectations: [Job, RegExp][] = [
      [noExport, /has no export "nope"/],
      [noModule, /Cannot resolve "nosuch\.module\.fn".*no module found/],
      [broken, /broken_import fixture fails at import time/],
      [corrupt, /cannot be decoded/],
      [unserializable, /Return value could not be serialized/],
    ];
    for (const [job, pattern] of expectations) {
      assert.equal(await status(redis, job.id), 'failed', job.description ?? job.id);
      assert.ok((await redis.zscore('rq:failed:q', job.id)) !== null, `${job.id} in rq:failed:q`);
      assert.match(await excText(redis, job.id), pattern);
    }
    assert.equal(await status(redis, good.id), 'finished');
    assert.equal(await returnValue(redis, good.id), 42);
    assert.equal(await redis.hget(worker.key, 'failed_job_count'), '5');
  });
});

describe('Worker: exception handlers', () => {
  it('calls the handlers in order with (job, error)', async () => {
    const job = await queue().enqueue(task('boom'), 'handled');
    const calls: string[] = [];
    const { worker } = makeWorker(['q'], {
      exceptionHandlers: [
        (j, err) => {
          calls.push(`first ${j.id} ${err.message}`);
        },
        (j, err) => {
          calls.push(`second ${j.id} ${err.message}`);
          return true;
        },
      ],
    });
    await worker.work({ burst: true });
    assert.deepEqual(calls, [`first ${job.id} handled`, `second ${job.id} handled`]);
    assert.equal(await status(redis, job.id), 'failed');
    assert.ok((await redis.zscore('rq:failed:q', job.id)) !== null);
  });

  it('a handler returning false stops the chain; the job is failed all the same', async () => {
    const job = await queue().enqueue(task('boom'));
    const calls: string[] = [];
    const { worker } = makeWorker(['q'], {
      exceptionHandlers: [
        () => {
          calls.push('first');
          return false;
        },
        () => {
          calls.push('second');
        },
      ],
    });
    await worker.work({ burst: true });
    assert.deepEqual(calls, ['first']);
    assert.equal(await status(redis, job.id), 'failed');
    assert.ok((await redis.zscore('rq:failed:q', job.id)) !== null);
  });

  it('disableDefaultExceptionHandler: status failed, but no failed entry and no result', async () => {
    const job = await queue().enqueue(task('boom'));
    let called = 0;
    const { worker } = makeWorker(['q'], { disableDefaultExceptionHandler: true, exceptionHandlers: [() => void called++] });
    await worker.work({ burst: true });
    assert.equal(await status(redis, job.id), 'failed');
    assert.equal(await redis.zscore('rq:failed:q', job.id), null);
    assert.equal(await redis.exists(`rq:results:${job.id}`), 0);
    assert.equal(await redis.zcard('rq:wip:q'), 0);
    assert.equal(called, 1, 'the custom handlers still run');
  });
});

describe('Worker: retries', () => {
  it('Retry(max: 2) runs the job three times, then fails it', async () => {
    const job = await queue().enqueueCall({ func: task('boom'), retry: { max: 2 } });
    const { worker, logger } = makeWorker();
    await worker.work({ burst: true });
    assert.equal(await redis.hget(worker.key, 'failed_job_count'), '3');
    assert.equal(logger.count('requeued for a retry'), 2);
    assert.equal(await status(redis, job.id), 'failed');
    assert.equal(await redis.hget(job.key, 'retries_left'), '0');
    assert.ok((await redis.zscore('rq:failed:q', job.id)) !== null);
    assert.equal(await queue().count(), 0);
  });

  it('a retry interval schedules the job instead of requeueing it', async () => {
    const job = await queue().enqueueCall({ func: task('boom'), retry: { max: 1, interval: [30] } });
    const { worker } = makeWorker();
    await worker.work({ burst: true });
    assert.equal(await status(redis, job.id), 'scheduled');
    assertScoreNear(await redis.zscore('rq:scheduled:q', job.id), 30, 'rq:scheduled:q');
    assert.equal(await redis.hget(job.key, 'retries_left'), '0');
    assert.equal(await redis.zscore('rq:failed:q', job.id), null);
    assert.equal(await queue().count(), 0);
    assert.equal(await redis.hget(worker.key, 'failed_job_count'), '1');
  });
});

describe('Worker: horse recycling', () => {
  it('horse.maxJobs: 1 gives each job a fresh horse', async () => {
    const q = queue();
    const a = await q.enqueue(task('pid'));
    const b = await q.enqueue(task('pid'));
    const { worker, logger } = makeWorker(['q'], { horse: { maxJobs: 1 } });
    await worker.work({ burst: true });
    const pidA = await returnValue(redis, a.id);
    const pidB = await returnValue(redis, b.id);
    assert.notEqual(pidA, pidB);
    assert.ok(logger.has('Replacing the work horse'));
  });

  it('horse.maxJobs: the next horse is started while the current one works, and ends with the worker if it never took over', async () => {
    const q = queue();
    const jobs = await q.enqueueMany(Array.from({ length: 5 }, () => ({ func: task('pidAndSiblings') })));
    const { worker } = makeWorker(['q'], { horse: { maxJobs: 2 } });
    const started: number[] = [];
    worker.hooks.horseStarted.tap('Watch', (_w, horse) => void started.push(horse.pid));
    await worker.work({ burst: true });
    const seen = await Promise.all(jobs.map(async (j) => (await returnValue(redis, j.id)) as { pid: number; siblings: number[] }));
    const horses = [...new Set(seen.map((s) => s.pid))];
    assert.equal(horses.length, 3, `two jobs per horse, the last one's queue then empty: ${JSON.stringify(seen)}`);
    assert.deepEqual(started, horses, 'horseStarted fires for each horse as it takes over, in order');
    // The first job of each horse ran while the next one was already there, started ahead.
    for (const [i, next] of horses.slice(1).entries()) assert.ok(seen[2 * i]!.siblings.includes(next), `horse ${next} was started during job ${2 * i + 1}: ${JSON.stringify(seen)}`);
    // The last horse had a successor started too: the queue ran empty first, and it ended with the worker.
    const spare = seen[4]!.siblings.find((p) => !horses.includes(p) && !seen[0]!.siblings.includes(p));
    assert.ok(spare !== undefined, `a horse started ahead during job 5: ${JSON.stringify(seen[4])}`);
    assert.throws(() => process.kill(spare, 0), /ESRCH/, 'the unused horse has exited');
  });
});

describe('Worker: plugins', () => {
  it('a user tap on perform runs before the default and can pre-empt it', async () => {
    const preempted = await queue().enqueue(task('record'), 'ran', 'preempted');
    const normal = await queue().enqueue(task('add'), 1, 2);
    const seen: string[] = [];
    const plugin: RqPlugin = {
      apply(w) {
        w.hooks.perform.tapPromise('Preempt', async (outcome: Outcome, job) => {
          seen.push(outcome.status);
          if (job.id !== preempted.id) return outcome;
          return { status: 'finished', returnValue: 42, endedAt: new Date() };
        });
      },
    };
    await makeWorker(['q'], { plugins: [plugin] }).worker.work({ burst: true });
    assert.deepEqual(seen, ['pending', 'pending'], 'the user tap sees the outcome before the default tap ran');
    assert.equal(await status(redis, preempted.id), 'finished');
    assert.equal(await returnValue(redis, preempted.id), 42);
    assert.equal(await redis.llen('ran'), 0, 'the job function never ran');
    assert.equal(await returnValue(redis, normal.id), 3, 'other jobs run as usual');
  });

  it('an error in a tap is a PluginError naming the hook and the tap', async () => {
    const failing = await queue().enqueue(task('add'), 1, 2);
    const plugin: RqPlugin = {
      apply(w) {
        let first = true;
        w.hooks.prepare.tapPromise('Kaput', async (job) => {
          if (first) {
            first = false;
            throw new Error('kaput');
          }
          return job;
        });
      },
    };
    const next = await queue().enqueue(task('add'), 3, 4);
    await makeWorker(['q'], { plugins: [plugin] }).worker.work({ burst: true });
    assert.equal(await status(redis, failing.id), 'failed');
    assert.match(await excText(redis, failing.id), /PluginError: Plugin "Kaput" failed in hook "prepare": kaput/);
    assert.equal(await returnValue(redis, next.id), 7, 'the worker goes on');

    // A synchronous tap (as the built-in per-job ones are) is wrapped alike.
    const syncFailing = await queue().enqueue(task('add'), 5, 6);
    const syncPlugin: RqPlugin = {
      apply(w) {
        w.hooks.prepare.tap('KaputSync', (job) => {
          if (job.id === syncFailing.id) throw new Error('kaput too');
          return job;
        });
      },
    };
    await makeWorker(['q'], { plugins: [syncPlugin] }).worker.work({ burst: true });
    assert.match(await excText(redis, syncFailing.id), /PluginError: Plugin "KaputSync" failed in hook "prepare": kaput too/);

    const bad: RqPlugin = {
      apply(w) {
        w.hooks.register.tapPromise('BadRegister', async () => {
          throw new TypeError('no registration today');
        });
      },
    };
    const err = await makeWorker(['q'], { plugins: [bad] })
      .worker.work({ burst: true })
      .then(
        () => null,
        (e: unknown) => e,
      );
    assert.ok(err instanceof PluginError, `work() rejects with a PluginError, got ${String(err)}`);
    assert.equal(err.hook, 'register');
    assert.equal(err.tap, 'BadRegister');
    assert.ok(err.cause instanceof TypeError);
    assert.match(err.message, /no registration today/);
  });
});

describe('Worker: maintenance', () => {
  it('fails the expired StartedJobRegistry entry of a dead worker at start, under the 899 s lock', async () => {
    const q = queue();
    const job = await q.enqueue(task('add'), 1, 2);
    await redis.lrem('rq:queue:q', 0, job.id);
    await redis.hset(job.key, 'status', 'started', 'worker_name', 'deadworker');
    await redis.zadd('rq:wip:q', epochSeconds() - 100, job.id);
    const { worker, logger } = makeWorker();
    await worker.work({ burst: true });
    assert.equal(await status(redis, job.id), 'failed');
    assert.ok((await redis.zscore('rq:failed:q', job.id)) !== null);
    assert.equal(await redis.zscore('rq:wip:q', job.id), null);
    assert.match(await excText(redis, job.id), /Moved to FailedJobRegistry at/);
    const lockTtl = await redis.ttl('rq:clean_registries:q');
    assert.ok(lockTtl > 890 && lockTtl <= 899, `lock TTL ${lockTtl}`);
    assert.ok(logger.has('Cleaning registries for queue: q'));
  });

  it('does not clean again while the lock is held', async () => {
    await redis.set('rq:clean_registries:q', '1', 'EX', 899);
    const job = await queue().enqueue(task('add'), 1, 2);
    await redis.lrem('rq:queue:q', 0, job.id);
    await redis.hset(job.key, 'status', 'started');
    await redis.zadd('rq:wip:q', epochSeconds() - 100, job.id);
    await makeWorker().worker.work({ burst: true });
    assert.equal(await status(redis, job.id), 'started');
    assert.ok((await redis.zscore('rq:wip:q', job.id)) !== null);
  });

  it('puts an id stranded in the intermediate list back once it has waited 60 s', async () => {
    const q = queue();
    const job = await q.enqueue(task('add'), 5, 6);
    await redis.lmove('rq:queue:q', 'rq:queue:q:intermediate', 'LEFT', 'RIGHT');
    const marker = `rq:queue:q:intermediate:first_seen:${job.id}`;
    await makeWorker().worker.work({ burst: true });
    assert.ok(await redis.exists(marker), 'the first sweep marks the id');
    assert.deepEqual(await redis.lrange('rq:queue:q:intermediate', 0, -1), [job.id], 'and leaves it where it is');
    assert.equal(await status(redis, job.id), 'queued');

    await redis.set(marker, String(epochSeconds() - 120), 'EX', 86400);
    await redis.del('rq:clean_registries:q');
    const { worker } = makeWorker();
    await cleanRegistries(worker);
    assert.deepEqual(await q.jobIds(), [job.id], 'requeued');
    assert.equal(await redis.llen('rq:queue:q:intermediate'), 0);
    assert.equal(await redis.exists(marker), 0);
    await worker.work({ burst: true });
    assert.equal(await returnValue(redis, job.id), 11);
  });
});

describe('Worker: whether the horse takes its own jobs (horse.loop)', () => {
  const build = (options: Partial<WorkerOptions> = {}, W: typeof Worker = Worker): Worker => {
    const w = new W(['q'], { connection: redis, installSignalHandlers: false, logger: createLogger({ level: 'ERROR' }), ...options });
    w.applyPlugins();
    return w;
  };

  it('on by default; off, with the reason, for what the horse cannot rebuild from names', () => {
    const plain = build();
    assert.equal(plain.horseLoop, true);
    assert.deepEqual(plain.horseLoopBlockers(), [], 'the built-in plugins\' taps are no reason');
    assert.equal(build({ horse: { loop: false } }).horseLoop, false, 'horse.loop false');
    assert.equal(build({}, SimpleWorker).horseLoop, false, 'SimpleWorker has no horse');
    const cases: [Partial<WorkerOptions>, RegExp][] = [
      [{ exceptionHandlers: [() => true] }, /exception handlers are functions of the worker process/],
      [{ logger: collectingLogger() }, /the logger is an object of your own/],
      [{ plugins: [{ apply: (w) => w.hooks.cleanup.tapPromise('Mine', async () => {}) }] }, /the plugin tap "Mine" on the cleanup hook runs in the worker process/],
      [{ serializer: { dumps: (v: unknown) => Buffer.from(JSON.stringify(v)), loads: (b: Buffer) => JSON.parse(b.toString()) as unknown } }, /the serializer has no dotted path/],
    ];
    for (const [options, reason] of cases) {
      const w = build(options);
      assert.equal(w.horseLoop, false, String(reason));
      assert.match(w.horseLoopBlockers().join('; '), reason);
    }
    const tapping = build({ plugins: [{ apply: (w) => w.hooks.exception.tapPromise('Report', async () => undefined) }] });
    assert.deepEqual(tapping.horseLoopBlockers(), ['the plugin tap "Report" on the exception hook runs in the worker process']);
    // A plugin that taps only worker-wide hooks does not matter.
    assert.equal(build({ plugins: [{ apply: (w) => w.hooks.startup.tapPromise('Boot', async () => {}) }] }).horseLoop, true);
  });

  it('a subclass needs its dotted path (horse.workerClass) for its horse; horse.loop true fails at start with the reasons', () => {
    class Mine extends Worker {}
    assert.match(build({}, Mine).horseLoopBlockers().join('; '), /the worker class Mine has no dotted path/);
    assert.equal(build({ horse: { workerClass: 'mine.Mine' } }, Mine).horseLoop, true);
    const forced = new Worker(['q'], { connection: redis, installSignalHandlers: false, logger: collectingLogger(), exceptionHandlers: [() => true], horse: { loop: true } });
    assert.throws(() => forced.applyPlugins(), /horse\.loop is true, but the horse cannot take its own jobs: exception handlers are functions .*; the logger is an object of your own/);
  });
});

describe('Worker: horse hooks and the mode plugins see', () => {
  it('horseStarted fires for each horse and horseDied for one that died, in the worker process; the horse keeps taking its own jobs', async () => {
    const seen: string[] = [];
    const q = queue();
    const crash = await q.enqueue(task('killSelf'));
    const after = await q.enqueue(task('pid'));
    const worker = new Worker(['q'], {
      connection: redis,
      installSignalHandlers: false,
      paths: [repoRoot],
      logger: createLogger({ level: 'CRITICAL' }),
      plugins: [
        {
          apply(w) {
            seen.push(`apply runsJobs=${String(w.runsJobs)} horseLoop=${String(w.horseLoop)}`);
            w.hooks.horseStarted.tapPromise('Watch', async (_w, horse) => void seen.push(`started ${horse.pid}`));
            w.hooks.horseDied.tapPromise('Watch', async (_w, horse, reason) => void seen.push(`died ${horse.pid}: ${reason}`));
          },
        },
      ],
    });
    assert.equal(await worker.work({ burst: true }), true);
    assert.equal(worker.horseLoop, true, 'horse hooks are no reason to keep the job stages in the worker');
    assert.equal(seen[0], 'apply runsJobs=false horseLoop=true', 'the plugin saw the real mode at apply()');
    const started = seen.filter((s) => s.startsWith('started'));
    const died = seen.filter((s) => s.startsWith('died'));
    assert.equal(started.length, 2, seen.join('\n'));
    assert.equal(died.length, 1, seen.join('\n'));
    assert.match(died[0]!, new RegExp(`^died ${started[0]!.slice('started '.length)}: Work-horse terminated unexpectedly; waitpid returned 9 \\(signal 9\\)`));
    assert.equal(await status(redis, crash.id), 'failed');
    assert.equal(await returnValue(redis, after.id), Number(started[1]!.slice('started '.length)), 'the next job ran in the new horse');
  });

  it('a plugin object that taps a job stage keeps the stages in the worker process, and the worker says so once, with the reason and the cost', async () => {
    const logger = collectingLogger();
    const job = await queue().enqueue(task('add'), 1, 1);
    const worker = new Worker(['q'], {
      connection: redis,
      installSignalHandlers: false,
      paths: [repoRoot],
      logger,
      plugins: [{ apply: (w) => w.hooks.cleanup.tapPromise('Mine', async () => {}) }],
    });
    await worker.work({ burst: true });
    assert.equal(await returnValue(redis, job.id), 2);
    assert.equal(logger.count('Job stages run in this worker process and each job goes to the work horse and back'), 1, logger.lines.join('\n'));
    assert.ok(logger.has('the plugin tap "Mine" on the cleanup hook runs in the worker process'), logger.lines.join('\n'));
    assert.ok(logger.has('about half the throughput'), logger.lines.join('\n'));
  });
});
