/**
 * Fault injection: a worker whose clock runs 10 minutes ahead (a preload shifts Date in its process
 * only) starts and sweeps the registries beside a normal worker that runs a live job (timeout 120 s,
 * heartbeat TTL 90 s), and after a job finished seconds before with result_ttl 300. Registry scores
 * and sweeps use Redis's clock: the live job is not failed as abandoned, the finished job stays in
 * the FinishedJobRegistry, the job the fast worker runs itself is scored by Redis's clock, and its
 * scheduler does not enqueue a job due in 2 minutes.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { Queue } from '../../lib/index.js';
import { utcparse } from '../../lib/time.js';
import { waitFor } from '../helpers/redis.js';
import { repoRoot, task } from '../helpers/worker.js';
import { useFaultSetup, waitExit, type FaultSetup } from './spawn.js';

let setup: FaultSetup;
const workers = useFaultSetup('clock', (s) => (setup = s));
const preload = pathToFileURL(join(repoRoot, 'test/fixtures/clock-ahead.mjs')).href;

describe('a worker whose clock runs 10 minutes ahead', () => {
  it('sweeps beside a normal worker without failing its live job or dropping a finished one', async () => {
    const { redis } = setup;
    await redis.flushall();
    const q = 'clock';
    const queue = new Queue(q, { connection: redis });
    const redisNow = async (): Promise<number> => Number((await redis.time())[0]);

    // A job finished seconds ago, kept 300 s.
    const done = await queue.enqueueCall({ func: task('add'), args: [1, 2], jobId: 'done', resultTtl: 300 });
    const first = workers.spawn(['-b', '-w', 'rq.SimpleWorker', q], 60_000);
    assert.equal((await waitExit(workers, first, 60_000)).code, 0, first.output());
    assert.notEqual(await redis.zscore(`rq:finished:${q}`, done.id), null, 'the first job is in the FinishedJobRegistry');

    // A live job on a normal worker: it runs until the test opens its gate.
    const live = await queue.enqueueCall({ func: task('untilKey'), args: ['gate-live'], jobId: 'live', timeout: 120 });
    const normal = workers.spawn([q], 120_000);
    await waitFor(async () => (await redis.hget(live.key, 'status')) === 'started', 'the live job to start', 60_000);
    workers.noteHorses(normal);
    const liveScore = Number(await redis.zscore(`rq:wip:${q}`, live.id));
    assert.ok(liveScore - (await redisNow()) < 600, `the live job's heartbeat expires within 10 minutes (in ${liveScore - (await redisNow())} s)`);

    // The fast worker: starts, sweeps (the lock the first workers took is cleared so that it does), runs a job.
    const fastJob = await queue.enqueueCall({ func: task('add'), args: [2, 3], jobId: 'fast', resultTtl: 300 });
    // Due in 2 minutes: its scheduler (the fast worker's) must not think it due.
    const later = await queue.enqueueIn(120, task('add'), 3, 4);
    await redis.del(`rq:clean_registries:${q}`);
    const fast = workers.spawn(['-b', '--with-scheduler', '-w', 'rq.SimpleWorker', q], 60_000, ['--import', preload]);
    assert.equal((await waitExit(workers, fast, 60_000)).code, 0, fast.output());
    assert.match(fast.output(), new RegExp(`Cleaning registries for queue: ${q}`), 'the fast worker swept the registries');
    // Its clock was ahead: the timestamps it wrote itself (python-rq's fields, from the worker's clock) say so.
    const ahead = utcparse(await redis.hget(fastJob.key, 'started_at'))!.getTime() / 1000 - (await redisNow());
    assert.ok(ahead > 540 && ahead < 660, `the fast worker's clock ran 10 minutes ahead (${ahead} s)`);

    assert.equal(await redis.hget(live.key, 'status'), 'started', 'the live job is still running');
    assert.notEqual(await redis.zscore(`rq:wip:${q}`, live.id), null, 'the live job is still in the StartedJobRegistry');
    assert.equal(await redis.zscore(`rq:failed:${q}`, live.id), null, 'the live job was not failed');
    assert.notEqual(await redis.zscore(`rq:finished:${q}`, done.id), null, 'the finished job is still in the FinishedJobRegistry');
    assert.equal(await redis.hget(fastJob.key, 'status'), 'finished');
    assert.match(fast.output(), new RegExp(`Scheduler for ${q} started \\(0 due jobs enqueued\\)`), 'its scheduler ran');
    assert.equal(await redis.hget(later.key, 'status'), 'scheduled', 'the job due in 2 minutes was not enqueued early');
    assert.notEqual(await redis.zscore(`rq:scheduled:${q}`, later.id), null);
    const fastScore = Number(await redis.zscore(`rq:finished:${q}`, fastJob.id));
    const now = await redisNow();
    assert.ok(Math.abs(fastScore - (now + 300)) < 60, `the fast worker's finished job expires 300 s from Redis's now (${fastScore - now} s)`);

    // The live job ends normally.
    await redis.set('gate-live', '1');
    await waitFor(async () => (await redis.hget(live.key, 'status')) === 'finished', 'the live job to finish', 30_000);
    assert.equal(await redis.zscore(`rq:failed:${q}`, live.id), null, 'the live job is not listed as failed');
    assert.notEqual(await redis.zscore(`rq:finished:${q}`, live.id), null);
    normal.child.kill('SIGTERM');
    assert.equal((await waitExit(workers, normal, 30_000)).code, 0, normal.output());
  });
});
