/**
 * Group commit (WorkerOptions.batch, plugins/CleanupPlugin.ts GroupCommit): a SimpleWorker busy with
 * short jobs runs them from their intermediate lists and records several successes per script call,
 * writing for each what a claim and an outcome script would have written.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { Queue, SimpleWorker, utcparse, type WorkerOptions } from '../../lib/index.js';
import { TcpProxy } from '../faults/proxy.js';
import { runScript } from '../../lib/redis/scripts.js';
import { useRedis, waitFor } from '../helpers/redis.js';
import { collectingLogger, excText, outcomesSeenAtStart, repoRoot, returnValue, streamEntries, task } from '../helpers/worker.js';

let redis: Redis;
let port: number;

useRedis((server, r) => {
  redis = r;
  port = server.port;
});

function makeWorker(queue: string, options: Partial<WorkerOptions> = {}) {
  const logger = collectingLogger();
  const worker = new SimpleWorker([queue], { connection: redis, installSignalHandlers: false, paths: [repoRoot], logger, ...options });
  return { worker, logger };
}

/**
 * Runs `work` while MONITOR watches the script calls Redis receives: how many, and the most jobs one
 * call recorded (a script call names one result stream per job it records).
 */
async function scriptCalls(work: () => Promise<unknown>): Promise<{ calls: number; most: number }> {
  const dup = redis.duplicate();
  const monitor = await dup.monitor();
  let calls = 0;
  let most = 0;
  let ended = false;
  monitor.on('monitor', (_t: string, args: string[]) => {
    if (/^(eval(sha)?|fcall)$/i.test(args[0] ?? '')) {
      calls++;
      most = Math.max(most, args.filter((a) => a.startsWith('rq:results:')).length);
    }
    if (args[0]?.toLowerCase() === 'echo' && args[1] === 'gc-monitor-end') ended = true;
  });
  try {
    await work();
    // MONITOR's feed trails the replies: an ECHO sent after the work marks the end of what it sent.
    await redis.echo('gc-monitor-end');
    await waitFor(() => ended, 'MONITOR to show the end of the work');
  } finally {
    monitor.disconnect();
    dup.disconnect();
  }
  return { calls, most };
}

const quick = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ func: task('add'), args: [from + i, 1] }));

describe('group commit', () => {
  it("records a burst of short jobs several per script call, each with rq's start and end fields, result entry and registry", async (t) => {
    const q = new Queue('gc-burst', { connection: redis });
    const jobs = await q.enqueueMany(quick(200));
    const { worker } = makeWorker('gc-burst');
    const { calls, most } = await scriptCalls(() => worker.work({ burst: true }));
    // Batches of 8 when every job is short: about 30 calls. A job whose turn took 2 ms (a busy
    // machine, MONITOR itself) ends a batch early, so only batching at all is asserted.
    t.diagnostic(`${calls} script calls for 200 jobs, at most ${most} jobs in one`);
    assert.ok(most >= 2, `a call recorded several jobs (at most ${most}; ${calls} calls for 200 jobs)`);
    for (const [i, job] of jobs.entries()) {
      const h = await redis.hgetall(job.key);
      assert.equal(h.status, 'finished', job.id);
      assert.equal(h.worker_name, worker.name, job.id);
      const [enqueued, started, ended, beat] = [utcparse(h.enqueued_at!), utcparse(h.started_at!), utcparse(h.ended_at!), utcparse(h.last_heartbeat!)];
      assert.ok(enqueued && started && ended && beat && enqueued <= started && started <= ended, `${job.id}: ${JSON.stringify(h)}`);
      assert.equal(await returnValue(redis, job.id), i + 1);
      assert.equal((await streamEntries(redis, job.id)).length, 1, `${job.id}: one result entry`);
      assert.ok((await redis.ttl(job.key)) > 490, `${job.id}: result TTL`);
    }
    assert.equal(await redis.zcard('rq:finished:gc-burst'), 200);
    assert.equal(await redis.zcard('rq:wip:gc-burst'), 0, 'StartedJobRegistry empty');
    assert.equal(await redis.llen('rq:queue:gc-burst:intermediate'), 0, 'intermediate list empty');
    const w = await redis.hgetall(worker.key);
    assert.equal(w.successful_job_count, '200');
    assert.equal(w.failed_job_count ?? '0', '0');
  });

  it('under maxJobs it takes no more jobs ahead than are left, and the last batch, recorded as the worker stops, names the worker', async () => {
    const q = new Queue('gc-max', { connection: redis });
    const jobs = await q.enqueueMany(quick(100));
    const { worker } = makeWorker('gc-max', { maxJobs: 50 });
    const { most } = await scriptCalls(() => worker.work({ burst: true }));
    assert.ok(most >= 2, `a call recorded several jobs (at most ${most})`);
    const statuses = await Promise.all(jobs.map((j) => j.getStatus()));
    assert.deepEqual(statuses.slice(0, 50), Array(50).fill('finished'));
    assert.deepEqual(statuses.slice(50), Array(50).fill('queued'), 'the rest given back, in order');
    assert.deepEqual(await redis.lrange('rq:queue:gc-max', 0, -1), jobs.slice(50).map((j) => j.id));
    for (const job of jobs.slice(0, 50)) assert.equal(await redis.hget(job.key, 'worker_name'), worker.name, job.id);
    assert.equal(await redis.llen('rq:queue:gc-max:intermediate'), 0);
  });

  it('batch: 1 turns it off: one outcome script per job', async () => {
    const q = new Queue('gc-off', { connection: redis });
    const jobs = await q.enqueueMany(quick(100));
    const { worker } = makeWorker('gc-off', { batch: 1 });
    const { calls, most } = await scriptCalls(() => worker.work({ burst: true }));
    assert.ok(calls >= 100, `${calls} script calls for 100 jobs`);
    assert.ok(most <= 1, `one job per call (at most ${most} in one)`);
    for (const job of jobs) assert.equal(await job.getStatus(), 'finished');
  });

  it('a job that runs past 2 ms is registered as started while it runs, among short jobs', async () => {
    const q = new Queue('gc-long', { connection: redis });
    await q.enqueueMany(quick(20));
    const long = await q.enqueue(task('stamped'), 'gc-long:stamps', 30);
    await q.enqueueMany(quick(20, 100));
    const { worker } = makeWorker('gc-long');
    await worker.work({ burst: true });
    const [stamp] = (await redis.lrange('gc-long:stamps', 0, -1)).map((s) => JSON.parse(s) as { id: string; started: boolean });
    assert.equal(stamp?.id, long.id);
    assert.equal(stamp.started, true, 'in the StartedJobRegistry while it ran');
    assert.equal(await long.getStatus(), 'finished');
    assert.equal(await redis.zcard('rq:finished:gc-long'), 41);
    assert.equal(await redis.zcard('rq:wip:gc-long'), 0);
  });

  it('a job registered as started past 2 ms gets the heartbeat TTL of its own timeout, as a claim writes it', async () => {
    const q = new Queue('gc-ttl-claim', { connection: redis });
    await q.enqueueMany(quick(10));
    const long = await q.enqueueCall({ func: task('claimTtlsAfter'), args: [20], timeout: 300 });
    await makeWorker('gc-ttl-claim').worker.work({ burst: true });
    const [score, workerTtl] = (await returnValue(redis, long.id)) as [number, number];
    assert.ok(score >= 359 && score <= 360, `StartedJobRegistry score ${score} s ahead, expected 360`);
    assert.ok(workerTtl >= 359 && workerTtl <= 360, `worker key TTL ${workerTtl} s, expected 360`);
  });

  it("a failure among short jobs is recorded the usual way, with the job's start; the others finish", async () => {
    const q = new Queue('gc-fail', { connection: redis });
    await q.enqueueMany(quick(10));
    const bad = await q.enqueue(task('boom'), 'in a burst');
    await q.enqueueMany(quick(10, 100));
    const { worker } = makeWorker('gc-fail');
    await worker.work({ burst: true });
    const h = await redis.hgetall(bad.key);
    assert.equal(h.status, 'failed');
    assert.equal(h.worker_name, worker.name);
    assert.ok(utcparse(h.started_at!), JSON.stringify(h));
    assert.match(await excText(redis, bad.id), /in a burst/);
    assert.equal(await redis.zcard('rq:finished:gc-fail'), 20);
    const w = await redis.hgetall(worker.key);
    assert.deepEqual([w.successful_job_count, w.failed_job_count], ['20', '1']);
  });

  it('result_ttl 0 deletes a job and -1 keeps it, in a batch as alone', async () => {
    const q = new Queue('gc-ttl', { connection: redis });
    await q.enqueueMany(quick(5));
    const gone = await q.enqueueCall({ func: task('add'), args: [1, 1], resultTtl: 0 });
    const kept = await q.enqueueCall({ func: task('add'), args: [2, 2], resultTtl: -1 });
    await q.enqueueMany(quick(5, 100));
    await makeWorker('gc-ttl').worker.work({ burst: true });
    assert.equal(await redis.exists(gone.key), 0, 'result_ttl 0: deleted');
    assert.equal(await redis.zscore('rq:finished:gc-ttl', gone.id), null);
    assert.equal(await redis.ttl(kept.key), -1, 'result_ttl -1: no expiry');
    assert.equal(await redis.zscore('rq:finished:gc-ttl', kept.id), 'inf');
    assert.equal(await redis.zcard('rq:finished:gc-ttl'), 11);
  });

  it("a job's dependents are enqueued once its batch is recorded", async () => {
    const q = new Queue('gc-deps', { connection: redis });
    await q.enqueueMany(quick(5));
    const parent = await q.enqueue(task('add'), 1, 2);
    const child = await q.enqueueCall({ func: task('add'), args: [3, 4], dependsOn: parent });
    await q.enqueueMany(quick(5, 100));
    await makeWorker('gc-deps').worker.work({ burst: true });
    assert.equal(await parent.getStatus(), 'finished');
    assert.equal(await child.getStatus(), 'finished');
    assert.equal(await returnValue(redis, child.id), 7);
  });

  it("a key of another type refuses the batch: its jobs are recorded one by one, the one at fault as failed", async () => {
    const q = new Queue('gc-bad', { connection: redis });
    const before = await q.enqueueMany(quick(3));
    const victim = await q.enqueue(task('add'), 5, 5);
    const after = await q.enqueueMany(quick(3, 100));
    // A stranger's string where the victim's result stream goes.
    await redis.set(`rq:results:${victim.id}`, 'not a stream');
    const { worker, logger } = makeWorker('gc-bad');
    await worker.work({ burst: true });
    assert.ok(logger.has('recording them one by one'), logger.lines.join('\n'));
    for (const job of [...before, ...after]) assert.equal(await job.getStatus(), 'finished', job.id);
    assert.equal(await redis.hget(victim.key, 'status'), 'started', 'its failure cannot be written either: maintenance fails it');
    assert.ok(await redis.zscore('rq:wip:gc-bad', victim.id), 'registered as started, for maintenance');
    assert.equal(await redis.llen('rq:queue:gc-bad:intermediate'), 0);
  });

  it('over a slow network a job starts with at most 3 x batch - 1 outcomes unrecorded: one batch waiting, two in flight', async () => {
    // 5 ms on every reply: far longer than a job here, so the worker is always waiting for Redis.
    const proxy = await TcpProxy.start(port, '127.0.0.1', 5);
    const connection = new Redis(proxy.url);
    try {
      const q = new Queue('gc-slow', { connection: redis });
      const jobs = await q.enqueueMany(quick(60));
      const { plugin: probe, counts: recordedAtStart } = outcomesSeenAtStart();
      const worker = new SimpleWorker(['gc-slow'], { connection, installSignalHandlers: false, paths: [repoRoot], logger: collectingLogger(), plugins: [probe], batch: 4 });
      await worker.work({ burst: true });
      const unrecorded = recordedAtStart.map((n, k) => k - n);
      assert.ok(Math.max(...unrecorded) <= 11, `unrecorded outcomes at each start: ${unrecorded.join(',')}`);
      // The worker did not wait for each batch before running the next jobs.
      assert.ok(Math.max(...unrecorded) >= 4, `a batch in flight while the next jobs ran: ${unrecorded.join(',')}`);
      for (const job of jobs) assert.equal(await job.getStatus(), 'finished');
      assert.equal(await redis.hget(worker.key, 'successful_job_count'), '60');
      assert.equal(await redis.llen('rq:queue:gc-slow:intermediate'), 0, 'nothing left taken ahead');
      assert.equal(await redis.zcard('rq:wip:gc-slow'), 0);
    } finally {
      connection.disconnect();
      await proxy.close();
    }
  });

  it('a job marked orphaned (maintenance put it back after its worker died) is registered as started before it runs, among short jobs', async () => {
    const q = new Queue('gc-orphan', { connection: redis });
    await q.enqueueMany(quick(20));
    const orphan = await q.enqueue(task('stamped'), 'gc-orphan:stamps', 0);
    await redis.hset(orphan.key, 'rqts_orphaned', '1');
    await q.enqueueMany(quick(20, 100));
    await makeWorker('gc-orphan').worker.work({ burst: true });
    const [stamp] = (await redis.lrange('gc-orphan:stamps', 0, -1)).map((s) => JSON.parse(s) as { id: string; started: boolean });
    assert.equal(stamp?.id, orphan.id);
    assert.equal(stamp.started, true, 'in the StartedJobRegistry while it ran, though it took no time');
    assert.equal(await orphan.getStatus(), 'finished');
    assert.equal(await redis.zcard('rq:finished:gc-orphan'), 41);
  });

  it('maintenance marks a job it puts back from an intermediate list as orphaned; a deleted one is not recreated', async () => {
    const keys = { intermediate: 'rq:queue:gc-mark:intermediate', queue: 'rq:queue:gc-mark', wip: 'rq:wip:gc-mark' };
    const q = new Queue('gc-mark', { connection: redis });
    const [kept, deleted] = await q.enqueueMany(quick(2));
    for (let i = 0; i < 2; i++) await redis.lmove(keys.queue, keys.intermediate, 'LEFT', 'RIGHT');
    await redis.del(deleted!.key);
    const recover = (id: string) =>
      runScript(redis, 'rqRecoverIntermediate', { ...keys, seen: `${keys.intermediate}:first_seen:${id}`, executions: `rq:executions:${id}`, job: `rq:job:${id}` }, { id, grace: 0, field: 'rqts_orphaned' });
    for (const id of [kept!.id, deleted!.id]) assert.equal(await recover(id), 'marked');
    for (const id of [kept!.id, deleted!.id]) assert.equal(await recover(id), 'requeued');
    assert.equal(await redis.hget(kept!.key, 'rqts_orphaned'), '1');
    assert.equal(await redis.exists(deleted!.key), 0, 'no hash made for a deleted job');
    assert.deepEqual((await redis.lrange(keys.queue, 0, -1)).sort(), [kept!.id, deleted!.id].sort());
  });

  it('rqFinishMany sent again with the same token (a lost reply) is replayed: nothing written twice, the same reply', async () => {
    const q = new Queue('gc-replay', { connection: redis });
    const [a, b] = await q.enqueueMany(quick(2));
    // Both taken into the intermediate list, as take-ahead does, and run without a start script.
    for (let i = 0; i < 2; i++) await redis.lmove('rq:queue:gc-replay', 'rq:queue:gc-replay:intermediate', 'LEFT', 'RIGHT');
    const worker = 'rq:worker:replayer';
    await redis.hset(worker, 'state', 'busy');
    const perJob = (id: string) => [`rq:job:${id}`, 'rq:finished:gc-replay', `rq:results:${id}`, `rq:job:${id}:dependents`, `rq:job:${id}:dependencies`, 'rq:queue:gc-replay:intermediate', 'rq:queue:gc-replay', 'rq:wip:gc-replay'];
    const call = () =>
      runScript(
        redis,
        'rqFinishMany',
        { worker, rest: [...perJob(a!.id), ...perJob(b!.id)] },
        {
          ids: [a!.id, b!.id],
          startedAt: ['2026-12-07T10:00:00.000000Z', '2026-12-07T10:00:00.001000Z'],
          endedAt: ['2026-12-07T10:00:00.001000Z', '2026-12-07T10:00:00.002000Z'],
          resultTtls: [500, 0],
          claimed: ['0', '0'],
          results: [['type', '1', 'worker_name', 'replayer'], ['type', '1', 'worker_name', 'replayer']],
          counts: ['2', '0', '0.002000'],
          workerTtl: 480,
          busyWith: '',
          nextMode: 'none',
          nextId: '',
          nextQueue: '',
          claimedAt: '',
          jobMonitoringInterval: '',
          workerName: 'replayer',
          claimMode: '',
          takeAhead: '0',
          nextExecId: '',
          peekCount: '',
          nextTtl: '',
          token: '1-replayer-1',
        },
      );
    const first = await call();
    const again = await call();
    assert.deepEqual(again, first);
    assert.equal(first[0].toString(), 'ofd', 'a finished, b deleted (result_ttl 0)');
    assert.equal(await redis.hget(a!.key, 'status'), 'finished');
    assert.equal(await redis.hget(a!.key, 'worker_name'), 'replayer');
    assert.equal(await redis.exists(b!.key), 0);
    assert.equal((await streamEntries(redis, a!.id)).length, 1, 'one result entry');
    assert.equal(await redis.hget(worker, 'successful_job_count'), '2', 'counted once');
    assert.equal(await redis.hget(worker, 'state'), 'idle');
    assert.equal(await redis.llen('rq:queue:gc-replay:intermediate'), 0);
  });

  it('rqFinishMany with no job waiting whose start of a job running directly claims nothing (the job was taken back) idles the worker', async () => {
    // The 2 ms claim of a job running directly, sent with no success waiting, after maintenance put the job back.
    const q = new Queue('gc-lost', { connection: redis });
    const [job] = await q.enqueueMany(quick(1));
    await redis.lpop('rq:queue:gc-lost');
    const worker = 'rq:worker:lost';
    await redis.hset(worker, 'state', 'busy');
    const reply = await runScript(
      redis,
      'rqFinishMany',
      {
        worker,
        rest: ['rq:suspended', worker, job!.key, 'rq:execution:-', 'rq:executions:-', 'rq:queue:gc-lost', 'rq:queue:gc-lost:intermediate', 'rq:wip:gc-lost'],
      },
      {
        ids: [],
        startedAt: [],
        endedAt: [],
        resultTtls: [],
        claimed: [],
        results: [],
        counts: '',
        workerTtl: 480,
        busyWith: '',
        nextMode: 'start-held',
        nextId: job!.id,
        nextQueue: 1,
        claimedAt: '2026-12-08T01:00:00.000000Z',
        jobMonitoringInterval: 30,
        workerName: 'lost',
        claimMode: 'inline',
        takeAhead: '0',
        nextExecId: '',
        peekCount: 2,
        nextTtl: 420,
        token: '1-lost-1',
      },
    );
    assert.equal(reply[1]?.toString(), 'lost');
    assert.equal(await redis.hget(worker, 'state'), 'idle');
    assert.equal(await redis.hget(worker, 'last_heartbeat'), '2026-12-08T01:00:00.000000Z');
    assert.equal(await redis.zcard('rq:wip:gc-lost'), 0, 'nothing registered as started');
  });
});
