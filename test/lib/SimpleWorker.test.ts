import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { BaseDeathPenalty, InProcessDeathPenalty, Queue, SimpleWorker, TimerDeathPenalty, epochSeconds, utcparse, type Job, type RqPlugin, type WorkerOptions } from '../../lib/index.js';
import { useRedis, waitFor } from '../helpers/redis.js';
import { assertScoreNear, assertTtlNear, collectingLogger, excText, repoRoot, returnValue, status, streamEntries, task } from '../helpers/worker.js';

let redis: Redis;

useRedis((_server, r) => {
  redis = r;
});

function makeWorker(queues: string[] = ['q'], options: Partial<WorkerOptions> = {}) {
  const logger = collectingLogger();
  const worker = new SimpleWorker(queues, { connection: redis, installSignalHandlers: false, paths: [repoRoot], logger, ...options });
  return { worker, logger };
}

const queue = (name = 'q'): Queue => new Queue(name, { connection: redis });

describe('SimpleWorker: work() in burst mode', () => {
  it('returns false on empty queues, true once a job was run', async () => {
    const { worker, logger } = makeWorker();
    assert.equal(await worker.work({ burst: true }), false);
    assert.ok(logger.has('No more work, burst finished.'), logger.lines.join('\n'));
    assert.ok(logger.has('Registering death.'));
    const job = await queue().enqueue(task('add'), 1, 2);
    assert.equal(await worker.work({ burst: true }), true);
    assert.equal(await status(redis, job.id), 'finished');
  });

  it('runs jobs in its own process', async () => {
    const a = await queue().enqueue(task('pid'));
    const b = await queue().enqueue(task('pid'));
    await makeWorker().worker.work({ burst: true });
    assert.equal(await returnValue(redis, a.id), process.pid);
    assert.equal(await returnValue(redis, b.id), process.pid);
  });

  it("writes rq's data for a finished job, and result TTLs as set", async () => {
    const q = queue();
    const job = await q.enqueue(task('add'), 2, 3);
    const { worker } = makeWorker();
    await worker.work({ burst: true });
    const h = await redis.hgetall(job.key);
    assert.equal(h.status, 'finished');
    const [enqueued, started, ended] = [utcparse(h.enqueued_at), utcparse(h.started_at), utcparse(h.ended_at)];
    assert.ok(enqueued && started && ended, JSON.stringify(h));
    assert.ok(enqueued <= started && started <= ended);
    assert.equal(h.worker_name, worker.name);
    assertScoreNear(await redis.zscore('rq:finished:q', job.id), 500, 'rq:finished:q');
    const entries = await streamEntries(redis, job.id);
    assert.equal(entries.length, 1);
    // rq 2.x's entry: the worker's name and the run's start and end as epoch seconds (rq 1.13 ignores them).
    const { execution_started_at: runStart, execution_ended_at: runEnd, ...entry } = entries[0]!;
    assert.deepEqual(entry, { type: '1', worker_name: worker.name, return_value: Buffer.from('5').toString('base64') });
    assert.ok(Number(runStart) * 1000 >= enqueued.getTime() && Number(runStart) <= Number(runEnd) && Number(runEnd) * 1000 <= Date.now(), JSON.stringify(entries[0]));
    assertTtlNear(await redis.ttl(job.key), 500, 'job');
    assert.equal(await redis.zcard('rq:wip:q'), 0);

    const gone = await q.enqueue(task('add'), 1, 1);
    const forever = await q.enqueueCall({ func: task('add'), args: [1, 1], resultTtl: -1 });
    await makeWorker(['q'], { resultTtl: 0 }).worker.work({ burst: true });
    assert.equal(await redis.exists(gone.key), 0, 'resultTtl 0 deletes the job');
    assert.equal(await redis.zscore('rq:finished:q', gone.id), null);
    assert.equal(await redis.ttl(forever.key), -1, "the job's resultTtl -1 wins over the worker's 0");
    assert.equal(await redis.zscore('rq:finished:q', forever.id), 'inf');
  });

  it("repeats a job with rq 2.x's repeats_left: queued again after each success, or scheduled after its interval", async () => {
    const q = queue();
    // As python-rq 2.x's Repeat(times=2) writes it, and Repeat(times=1, interval=[60]).
    const now = await q.enqueue(task('add'), 1, 2);
    await redis.hset(now.key, 'repeats_left', '2', 'repeat_intervals', '[0]', 'x_later_field', 'kept');
    const later = await q.enqueue(task('add'), 2, 2);
    await redis.hset(later.key, 'repeats_left', '1', 'repeat_intervals', '[60]');
    const { worker } = makeWorker();
    const before = epochSeconds();
    await worker.work({ burst: true });
    const entries = await streamEntries(redis, now.id);
    assert.deepEqual(entries.map((e) => [e.type, e.return_value]), [1, 2, 3].map(() => ['1', Buffer.from('3').toString('base64')]), 'three runs');
    const h = await redis.hgetall(now.key);
    assert.equal(h.status, 'finished');
    assert.equal(h.repeats_left, '0');
    assert.equal(h.x_later_field, 'kept', 'a field rq-ts does not know survives');
    assert.ok(await redis.zscore('rq:finished:q', now.id));
    assert.equal(await redis.llen('rq:queue:q'), 0);

    assert.equal(await status(redis, later.id), 'scheduled');
    assert.equal(await redis.hget(later.key, 'repeats_left'), '0');
    const at = Number(await redis.zscore('rq:scheduled:q', later.id));
    assert.ok(at >= before + 60 && at <= epochSeconds() + 60, `scheduled at ${at}`);
    assert.equal((await streamEntries(redis, later.id)).length, 1);
    assert.ok(await redis.zscore('rq:finished:q', later.id), 'in the FinishedJobRegistry as rq 2.x leaves it');
  });

  it("writes rq's data for a failed job", async () => {
    const job = await queue().enqueue(task('boom'));
    await makeWorker().worker.work({ burst: true });
    assert.equal(await status(redis, job.id), 'failed');
    assertScoreNear(await redis.zscore('rq:failed:q', job.id), 31536000, 'rq:failed:q');
    const entries = await streamEntries(redis, job.id);
    assert.equal(entries.length, 1);
    assert.equal(entries[0]!.type, '2');
    const exc = await excText(redis, job.id);
    assert.match(exc, /TypeError: nope/);
    assert.ok(exc.includes('test/fixtures/tasks.ts'), exc);
    assertTtlNear(await redis.ttl(job.key), 31536000, 'job');
  });

  it('keeps the meta a job writes about itself', async () => {
    const job = await queue().enqueue(task('touchMeta'), 'progress', 100);
    await makeWorker().worker.work({ burst: true });
    assert.equal(await returnValue(redis, job.id), job.id, 'getCurrentJob() is the job');
    assert.equal(await redis.hget(job.key, 'meta'), '{"progress": 100}');
  });
});

describe('SimpleWorker: its Redis hash and registries', () => {
  it('is busy with current_job during a job, idle after, and registers its death', async () => {
    const q = queue();
    await q.enqueue(task('boom'));
    const slow = await q.enqueueCall({ func: task('slowAdd'), args: [1, 2, 400], timeout: 100 });
    const { worker } = makeWorker();
    const running = worker.work({ burst: true });
    try {
      const busy = await waitFor(async () => {
        const h = await redis.hgetall(worker.key);
        return h.state === 'busy' && h.current_job === slow.id ? h : null;
      }, 'the worker to be busy with the slow job');
      assert.equal(busy.pid, String(process.pid));
      assert.equal(busy.hostname, hostname());
      assert.equal(busy.queues, 'q');
      assert.ok(utcparse(busy.birth) && utcparse(busy.last_heartbeat));
      assert.equal(busy.failed_job_count, '1');
      assert.equal(await redis.sismember('rq:workers:q', worker.key), 1);
      // SimpleWorker's heartbeat rule: the job's timeout + 60 s (no heartbeat while the job holds the process).
      assertScoreNear(await redis.zscore('rq:wip:q', slow.id), 160, 'rq:wip:q');
      const found = await SimpleWorker.findByKey(worker.key, { connection: redis });
      assert.ok(found instanceof SimpleWorker);
      assert.equal(found.currentJobId, slow.id);
      assert.equal(found.state, 'busy');
    } finally {
      await running;
    }
    const h = await redis.hgetall(worker.key);
    assert.equal(h.state, 'idle');
    assert.equal(h.current_job, undefined);
    assert.equal(h.successful_job_count, '1');
    assert.equal(h.failed_job_count, '1');
    assert.ok(Number(h.total_working_time) >= 0.35, `total_working_time ${h.total_working_time}`);
    assert.ok(utcparse(h.death));
    assert.equal(await redis.sismember('rq:workers', worker.key), 0);
    const ttl = await redis.ttl(worker.key);
    assert.ok(ttl > 0 && ttl <= 60, `TTL after death ${ttl}`);
  });

  it('takes queues in priority order, skips deleted jobs, and honours maxJobs', async () => {
    await queue('low').enqueue(task('record'), 'order', 'low');
    const deleted = await queue('high').enqueue(task('record'), 'order', 'deleted');
    await queue('high').enqueue(task('record'), 'order', 'high');
    await queue('low').enqueue(task('record'), 'order', 'left');
    await redis.del(deleted.key);
    await makeWorker(['high', 'low'], { maxJobs: 2 }).worker.work({ burst: true });
    assert.deepEqual(await redis.lrange('order', 0, -1), ['high', 'low']);
    assert.equal(await queue('low').count(), 1, 'maxJobs: 2 left the last job queued');
    assert.equal(await redis.exists(deleted.key), 0);
  });

  it('does nothing while rq:suspended is set', async () => {
    await redis.set('rq:suspended', '1');
    const job = await queue().enqueue(task('add'), 1, 2);
    assert.equal(await makeWorker().worker.work({ burst: true }), false);
    assert.equal(await status(redis, job.id), 'queued');
  });
});

describe('SimpleWorker: heartbeat TTLs', () => {
  it("each job's claim writes its own TTL, timeout + 60 s, also for jobs started from what the worker held ahead", async () => {
    // Queued back to back, the jobs after the first are taken ahead with their hashes and started by
    // the outcome script of the one before, with the TTL the worker computed from the hash it holds.
    const timeouts = [100, 200, 300, 400, 500];
    const jobs = [];
    for (const timeout of timeouts) jobs.push(await queue().enqueueCall({ func: task('claimTtls'), timeout }));
    // batch: 1, so that every job is claimed: group commit runs short jobs unregistered (its claims
    // past 2 ms: test/lib/groupCommit.test.ts).
    await makeWorker(['q'], { batch: 1 }).worker.work({ burst: true });
    for (const [i, job] of jobs.entries()) {
      const [score, workerTtl] = (await returnValue(redis, job.id)) as [number, number];
      const want = timeouts[i]! + 60;
      assert.ok(score >= want - 1 && score <= want, `job ${i}: StartedJobRegistry score ${score} s ahead, expected ${want}`);
      assert.ok(workerTtl >= want - 1 && workerTtl <= want, `job ${i}: worker key TTL ${workerTtl} s, expected ${want}`);
    }
  });
});

describe('SimpleWorker: timeouts', () => {
  it('TimerDeathPenalty is the default death penalty', () => {
    assert.equal(makeWorker().worker.deathPenaltyClass, TimerDeathPenalty);
  });

  it('fails an asynchronous job that never settles, and goes on', async () => {
    // sleepForeverUnref rather than sleepForever: an abandoned in-process job's timer would keep this test process alive.
    const q = queue();
    const slow = await q.enqueueCall({ func: task('sleepForeverUnref'), timeout: 1 });
    const next = await q.enqueue(task('add'), 1, 2);
    const started = Date.now();
    await makeWorker().worker.work({ burst: true });
    assert.ok(Date.now() - started < 8000);
    assert.equal(await status(redis, slow.id), 'failed');
    assert.match(await excText(redis, slow.id), /JobTimeoutException: Task exceeded maximum timeout value \(1 seconds\)/);
    assert.equal(await returnValue(redis, next.id), 3);
  });

  it('fails a job whose synchronous run outlasts its timeout (ending within the watchdog grace), and goes on', async () => {
    // 1.2 s of a blocked loop for a 1 s timeout: the timer cannot fire meanwhile, the watchdog ends
    // a process only after 1 s past the deadline (test/cli/worker.test.ts), so the job returns.
    const q = queue();
    const busy = await q.enqueueCall({ func: task('busyFor'), args: [1200], timeout: 1 });
    const next = await q.enqueue(task('add'), 1, 2);
    await makeWorker().worker.work({ burst: true });
    assert.equal(await status(redis, busy.id), 'failed');
    assert.match(await excText(redis, busy.id), /JobTimeoutException: Task exceeded maximum timeout value \(1 seconds\)/);
    assert.equal(await returnValue(redis, next.id), 3);
  });

  it('a job that a death penalty lets run past its timeout, with the event loop free, is not taken for a blocked loop', async () => {
    // The watchdog ends a process whose loop stopped ticking; were it to go by the deadline alone,
    // it would SIGKILL this test process 1 s after the deadline, long before the job's 2.5 s.
    class Lenient extends BaseDeathPenalty {
      run<T>(call: () => T | Promise<T>): Promise<T> {
        return Promise.resolve().then(call);
      }
    }
    const job = await queue().enqueueCall({ func: task('slowAdd'), args: [1, 2, 2500], timeout: 1 });
    await makeWorker(['q'], { deathPenaltyClass: Lenient }).worker.work({ burst: true });
    assert.equal(await returnValue(redis, job.id), 3);
  });

  it('InProcessDeathPenalty interrupts a synchronous infinite loop, and goes on', async () => {
    const q = queue();
    const spin = await q.enqueueCall({ func: task('spin'), timeout: 1 });
    const next = await q.enqueue(task('add'), 1, 2);
    const started = Date.now();
    await makeWorker(['q'], { deathPenaltyClass: InProcessDeathPenalty }).worker.work({ burst: true });
    assert.ok(Date.now() - started < 8000);
    assert.equal(await status(redis, spin.id), 'failed');
    assert.ok((await redis.zscore('rq:failed:q', spin.id)) !== null);
    assert.match(await excText(redis, spin.id), /JobTimeoutException: Task exceeded maximum timeout value \(1 seconds\)/);
    assert.equal(await returnValue(redis, next.id), 3);
  });
});

describe('SimpleWorker: jobs that go wrong', () => {
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
    assert.equal(await returnValue(redis, good.id), 42);
    assert.equal(await redis.hget(worker.key, 'failed_job_count'), '5');
  });

  it('exception handlers run in order; false stops the chain; disableDefaultExceptionHandler skips the failed registry', async () => {
    const job = await queue().enqueue(task('boom'), 'handled');
    const calls: string[] = [];
    await makeWorker(['q'], {
      exceptionHandlers: [
        (j, err) => void calls.push(`first ${j.id} ${err.message}`),
        () => {
          calls.push('second');
          return false;
        },
        () => void calls.push('third'),
      ],
    }).worker.work({ burst: true });
    assert.deepEqual(calls, [`first ${job.id} handled`, 'second']);
    assert.ok((await redis.zscore('rq:failed:q', job.id)) !== null);

    const quiet = await queue().enqueue(task('boom'));
    await makeWorker(['q'], { disableDefaultExceptionHandler: true }).worker.work({ burst: true });
    assert.equal(await status(redis, quiet.id), 'failed');
    assert.equal(await redis.zscore('rq:failed:q', quiet.id), null);
    assert.equal(await redis.exists(`rq:results:${quiet.id}`), 0);
  });

  it('retries a failing job as many times as asked', async () => {
    const job = await queue().enqueueCall({ func: task('boom'), retry: { max: 2 } });
    const { worker } = makeWorker();
    await worker.work({ burst: true });
    assert.equal(await redis.hget(worker.key, 'failed_job_count'), '3');
    assert.equal(await status(redis, job.id), 'failed');
    assert.equal(await redis.hget(job.key, 'retries_left'), '0');
    assert.ok((await redis.zscore('rq:failed:q', job.id)) !== null);
  });
});

describe('SimpleWorker: plugins', () => {
  it('a user tap on perform can pre-empt the default', async () => {
    const job = await queue().enqueue(task('record'), 'ran', 'x');
    const plugin: RqPlugin = {
      apply(w) {
        w.hooks.perform.tapPromise('Preempt', async () => ({ status: 'finished', returnValue: 42, endedAt: new Date() }));
      },
    };
    await makeWorker(['q'], { plugins: [plugin] }).worker.work({ burst: true });
    assert.equal(await returnValue(redis, job.id), 42);
    assert.equal(await redis.llen('ran'), 0, 'the job function never ran');
  });
});
