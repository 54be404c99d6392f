/**
 * Concurrency (#17 item 3): up to N async jobs at once, in-process (SimpleWorker) and in the one
 * horse of the default Worker (`rq worker --concurrency N`), each with rq's guarantees: in the
 * StartedJobRegistry while it runs, its own timeout (a timed-out job fails alone), its own result,
 * and a warm shutdown that waits for every job in flight. Overlap is asserted from the jobs' own
 * start and end stamps, not from wall time, so a busy machine does not make it flaky.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { SimpleWorker, sendStopJobCommand, type Queue } from '../../lib/index.js';
import { describeRun, distIndex, runRq, spawnRq, useCliRedis } from '../helpers/cli.js';
import { waitFor } from '../helpers/redis.js';
import { collectingLogger, excText, repoRoot, status, task } from '../helpers/worker.js';

const { projects, freshDb } = useCliRedis();

interface Stamp {
  id: string;
  start: number;
  end: number;
  started: boolean;
  pid: number;
}

async function stamps(redis: Redis, key = 'stamps'): Promise<Stamp[]> {
  return (await redis.lrange(key, 0, -1)).map((s) => JSON.parse(s) as Stamp);
}

/** How many jobs ran at the same moment, at most: from the stamps' intervals. */
function maxOverlap(list: Stamp[]): number {
  let best = 0;
  for (const s of list) best = Math.max(best, list.filter((o) => o.start < s.end && s.start < o.end).length);
  return best;
}

async function enqueueStamped(q: Queue, n: number, ms: number, timeout?: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await q.enqueueCall({ func: task('stamped'), args: ['stamps', ms], ...(timeout ? { timeout } : {}) })).id);
  return ids;
}

/** The job module of the CLI tests: `jobs.stamped` as in test/fixtures/tasks.ts, importing rq-ts by path. */
const JOBS = `
import { getCurrentJob } from ${JSON.stringify(distIndex)};
export async function stamped(key: string, ms: number): Promise<number> {
  const job = getCurrentJob()!;
  const start = Date.now();
  await new Promise((r) => setTimeout(r, ms));
  const started = (await job.connection.zscore('rq:wip:' + job.origin, job.id)) !== null;
  const end = Date.now();
  await job.connection.rpush(key, JSON.stringify({ id: job.id, start, end, started, pid: process.pid }));
  return process.pid;
}
export function sleepForever(): Promise<never> { return new Promise(() => setInterval(() => {}, 1000).unref()); }
`;

describe('concurrency: N async jobs at once, each with its own guarantees', { timeout: 240_000 }, () => {
  it('SimpleWorker, concurrency 20: 20 jobs of 500 ms overlap, each in the StartedJobRegistry while it runs, each finished', async () => {
    const db = freshDb();
    const ids = await enqueueStamped(db.queue('q'), 20, 500);
    const logger = collectingLogger();
    const worker = new SimpleWorker(['q'], { connection: db.redis, installSignalHandlers: false, paths: [repoRoot], logger, concurrency: 20 });
    assert.equal(await worker.work({ burst: true }), true);
    const list = await stamps(db.redis);
    assert.equal(list.length, 20, logger.lines.join('\n'));
    assert.ok(list.every((s) => s.started), 'every job is in rq:wip:q while it runs');
    // One at a time, no two would overlap; 20 at once, all of them do (each runs 500 ms, the dequeues take far less).
    assert.ok(maxOverlap(list) >= 10, `at most ${maxOverlap(list)} jobs overlapped: ${JSON.stringify(list)}`);
    for (const id of ids) assert.equal(await status(db.redis, id), 'finished');
    assert.equal(await db.redis.zcard('rq:wip:q'), 0);
    assert.equal(await db.redis.zcard('rq:finished:q'), 20);
    const h = await db.redis.hgetall(`rq:worker:${worker.name}`);
    assert.equal(h.successful_job_count, '20');
    assert.ok(logger.has('No more work, burst finished.'));
    assert.equal(logger.count('No more work, burst finished.'), 1, logger.lines.join('\n'));
  });

  it('one script call per job while busy: each outcome script claims the head its reply predicted', async () => {
    const db = freshDb();
    const n = 300;
    await enqueueStamped(db.queue('q'), n, 5);
    const worker = new SimpleWorker(['q'], { connection: db.redis, installSignalHandlers: false, paths: [repoRoot], logger: collectingLogger(), concurrency: 10 });
    await db.redis.config('RESETSTAT');
    assert.equal(await worker.work({ burst: true }), true);
    assert.equal(await db.redis.zcard('rq:finished:q'), n);
    const stats = String(await db.redis.info('commandstats'));
    const calls = Number(/cmdstat_fcall:calls=(\d+)/.exec(stats)?.[1] ?? 0) + Number(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1] ?? 0);
    assert.ok(calls >= n, `${calls} script calls counted for ${n} jobs`);
    // With two heads per reply, ten outcome scripts in flight mostly expected the same one and took
    // their next job in a second call (rqClaim): 1.9 calls per job.
    assert.ok(calls <= n * 1.2, `${calls} script calls for ${n} jobs`);
  });

  it('a job past its timeout fails alone; the jobs beside it finish', async () => {
    const db = freshDb();
    const q = db.queue('q');
    const slow = await q.enqueueCall({ func: task('sleepForeverUnref'), timeout: 1 });
    const ids = await enqueueStamped(q, 4, 1500);
    const worker = new SimpleWorker(['q'], { connection: db.redis, installSignalHandlers: false, paths: [repoRoot], logger: collectingLogger(), concurrency: 5 });
    await worker.work({ burst: true });
    assert.equal(await status(db.redis, slow.id), 'failed');
    assert.match(await excText(db.redis, slow.id), /JobTimeoutException/);
    for (const id of ids) assert.equal(await status(db.redis, id), 'finished');
    const list = await stamps(db.redis);
    assert.equal(maxOverlap(list), 4, JSON.stringify(list));
    assert.deepEqual(await db.redis.zrange('rq:failed:q', '0', '-1'), [slow.id]);
  });

  it('a warm stop waits for every job in flight; maxJobs counts the running ones', async () => {
    const db = freshDb();
    const ids = await enqueueStamped(db.queue('q'), 8, 1000);
    const worker = new SimpleWorker(['q'], { connection: db.redis, installSignalHandlers: false, paths: [repoRoot], logger: collectingLogger(), concurrency: 5 });
    const done = worker.work();
    await waitFor(async () => (await db.redis.zcard('rq:wip:q')) === 5, '5 jobs started', 20_000);
    // The worker's hash names one job it runs, and says busy.
    const h = await db.redis.hgetall(`rq:worker:${worker.name}`);
    assert.equal(h.state, 'busy');
    assert.ok(ids.includes(h.current_job ?? ''), JSON.stringify(h));
    worker.requestStop();
    await done;
    const finished = await db.redis.zrange('rq:finished:q', '0', '-1');
    assert.equal(finished.length, 5, 'the 5 jobs in flight finished');
    assert.equal(await db.redis.llen('rq:queue:q'), 3, 'the other 3 wait in the queue');
    assert.equal(await db.redis.zcard('rq:wip:q'), 0);

    const limited = new SimpleWorker(['q'], { connection: db.redis, installSignalHandlers: false, paths: [repoRoot], logger: collectingLogger(), concurrency: 5, maxJobs: 2 });
    await limited.work({ burst: true });
    assert.equal(await db.redis.llen('rq:queue:q'), 1, 'maxJobs 2: two more jobs ran, not five');
  });

  it('stop-job stops one of the concurrent jobs; the others finish', async () => {
    const db = freshDb();
    const q = db.queue('q');
    // Its timeout timer outlives the stop (as for a lone stopped job): short, so that it does not hold the test process.
    const forever = await q.enqueueCall({ func: task('sleepForeverUnref'), timeout: 6 });
    const ids = await enqueueStamped(q, 2, 1500);
    const worker = new SimpleWorker(['q'], { connection: db.redis, installSignalHandlers: false, paths: [repoRoot], logger: collectingLogger(), concurrency: 3 });
    const done = worker.work({ burst: true });
    await waitFor(async () => (await db.redis.zcard('rq:wip:q')) === 3, '3 jobs started', 20_000);
    await sendStopJobCommand(db.redis, forever.id);
    await done;
    assert.equal(await status(db.redis, forever.id), 'stopped');
    for (const id of ids) assert.equal(await status(db.redis, id), 'finished');
  });

  it('rejects a concurrency that is not a whole number >= 1', () => {
    const db = freshDb();
    assert.throws(() => new SimpleWorker(['q'], { connection: db.redis, concurrency: 0 }), /Invalid concurrency 0: expected a whole number >= 1/);
    assert.throws(() => new SimpleWorker(['q'], { connection: db.redis, concurrency: 2.5 }), /Invalid concurrency 2.5/);
  });

  it('rq worker --concurrency 20 (default Worker): the jobs overlap in its one horse, each in the StartedJobRegistry', async () => {
    const db = freshDb();
    const q = db.queue('q');
    for (let i = 0; i < 20; i++) await q.enqueue('jobs.stamped', 'stamps', 500);
    const r = await runRq(['worker', '-b', '--concurrency', '20', '-u', db.url, 'q'], { cwd: projects.make({ 'jobs.ts': JOBS }), timeoutMs: 60_000 });
    assert.equal(r.code, 0, describeRun(r));
    const list = await stamps(db.redis);
    assert.equal(list.length, 20, describeRun(r));
    assert.ok(list.every((s) => s.started));
    assert.equal(new Set(list.map((s) => s.pid)).size, 1, 'one horse ran them all');
    assert.notEqual(list[0]!.pid, r.pid, 'in the horse, not the worker process');
    assert.ok(maxOverlap(list) >= 10, `at most ${maxOverlap(list)} jobs overlapped`);
    assert.equal(await db.redis.zcard('rq:finished:q'), 20);
  });

  it('rq worker --concurrency: SIGTERM waits for every job in flight; a killed horse fails every job it held', async () => {
    const db = freshDb();
    const q = db.queue('q');
    for (let i = 0; i < 4; i++) await q.enqueue('jobs.stamped', 'stamps', 1500);
    const cwd = projects.make({ 'jobs.ts': JOBS });
    const warm = spawnRq(['worker', '--concurrency', '4', '-u', db.url, 'q'], { cwd, timeoutMs: 60_000 });
    await waitFor(async () => (await db.redis.zcard('rq:wip:q')) === 4, '4 jobs started', 30_000);
    const exit = await warm.stop('SIGTERM', 30_000);
    assert.equal(exit.code, 0, warm.output);
    assert.equal(await db.redis.zcard('rq:finished:q'), 4, warm.output);

    const held = [];
    for (let i = 0; i < 3; i++) held.push((await q.enqueue('jobs.sleepForever')).id);
    const cold = spawnRq(['worker', '--concurrency', '3', '-u', db.url, 'q'], { cwd, timeoutMs: 60_000 });
    await waitFor(async () => (await db.redis.zcard('rq:wip:q')) === 3, '3 jobs started', 30_000);
    const horsePid = await waitFor(() => horseOf(cold.pid), 'the horse pid', 20_000);
    process.kill(horsePid, 'SIGKILL');
    await waitFor(async () => (await db.redis.zcard('rq:failed:q')) === 3, 'the 3 jobs of the dead horse failed', 30_000);
    for (const id of held) assert.match(await excText(db.redis, id), /horse/i);
    assert.equal(await db.redis.zcard('rq:wip:q'), 0);
    const stopped = await cold.stop('SIGTERM', 30_000);
    assert.equal(stopped.code, 0, cold.output);
  });

  it('rq worker --concurrency --protocol 2: a killed horse fails every job it held under its execution', async () => {
    const db = freshDb();
    const q = db.queue('q');
    const held = [];
    for (let i = 0; i < 3; i++) held.push((await q.enqueue('jobs.sleepForever')).id);
    const cwd = projects.make({ 'jobs.ts': JOBS });
    const w = spawnRq(['worker', '--concurrency', '3', '--protocol', '2', '-u', db.url, 'q'], { cwd, timeoutMs: 60_000 });
    await waitFor(async () => (await db.redis.zcard('rq:wip:q')) === 3, '3 jobs started', 30_000);
    // rq 2.x's members: <id>:<execution>, which the dead horse's jobs are found by.
    for (const member of await db.redis.zrange('rq:wip:q', '0', '-1')) assert.match(member, /^[^:]+:[0-9a-f]{32}$/);
    const horsePid = await waitFor(() => horseOf(w.pid), 'the horse pid', 20_000);
    process.kill(horsePid, 'SIGKILL');
    await waitFor(async () => (await db.redis.zcard('rq:failed:q')) === 3, 'the 3 jobs of the dead horse failed', 30_000);
    for (const id of held) assert.match(await excText(db.redis, id), /horse/i);
    assert.equal(await db.redis.zcard('rq:wip:q'), 0);
    assert.deepEqual(await db.redis.keys('rq:execution:*'), [], 'their executions ended');
    const stopped = await w.stop('SIGTERM', 30_000);
    assert.equal(stopped.code, 0, w.output);
  });
});

/** The pid of the work horse of the worker process `workerPid` (its only child). */
function horseOf(workerPid: number): number | null {
  const out = execFileSync('ps', ['-o', 'pid=', '--ppid', String(workerPid)]).toString().trim();
  const pid = Number(out.split(/\s+/)[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}
