/**
 * `rq info` and the scheduler trap (#17 item 4): scheduled work (enqueueIn, or a failed job
 * waiting out a retry interval) on a queue no scheduler serves is named on stderr, while stdout
 * keeps rq's lines; a held `rq:scheduler-lock:<q>` or an empty ScheduledJobRegistry says nothing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JOBS_TS, describeRun, linesOf, runRq, useCliRedis } from '../helpers/cli.js';

const { projects, freshDb } = useCliRedis();

function rq(args: string[]) {
  return runRq(args, { cwd: projects.make({ 'jobs.ts': JOBS_TS }), env: { COLUMNS: '80' }, timeoutMs: 30_000 });
}

const warningFor = (queue: string, count: number): RegExp =>
  new RegExp(
    `^Warning: queue '${queue}' has ${count} scheduled job\\(s\\) \\(rq:scheduled:${queue}\\) but no scheduler runs for it ` +
      `\\(no rq:scheduler-lock:${queue}\\): they wait until a worker runs with --with-scheduler \\(rq worker --with-scheduler ${queue}\\)$`,
  );

describe('rq info warns about scheduled work without a scheduler', () => {
  it('a scheduled job and a retry waiting out its interval are warned about, on stderr, per queue', async () => {
    const db = freshDb();
    await db.queue('later').enqueueIn(3600, 'jobs.add', 1, 2);
    // A job that fails with a retry interval goes to the ScheduledJobRegistry: the worker (no scheduler) leaves it there.
    await db.queue('retried').enqueueCall({ func: 'jobs.boom', retry: { max: 2, interval: [600] } });
    const worker = await rq(['worker', '-b', '-u', db.url, 'retried']);
    assert.equal(worker.code, 0, describeRun(worker));
    assert.equal(await db.redis.zcard('rq:scheduled:retried'), 1, describeRun(worker));
    await db.queue('plain').enqueue('jobs.add', 1, 1);

    const info = await rq(['info', '-u', db.url, '-Q', 'later', 'retried', 'plain']);
    assert.equal(info.code, 0, describeRun(info));
    assert.deepEqual(linesOf(info.stdout), ['later        | 0', 'retried      | 0', 'plain        |█ 1', '3 queues, 1 jobs total'], describeRun(info));
    const warnings = linesOf(info.stderr);
    assert.equal(warnings.length, 2, describeRun(info));
    assert.match(warnings[0]!, warningFor('later', 1));
    assert.match(warnings[1]!, warningFor('retried', 1));
  });

  it('no warning when a scheduler holds the queue\'s lock, or with -W (workers only)', async () => {
    const db = freshDb();
    await db.queue('later').enqueueIn(3600, 'jobs.add', 1, 2);
    assert.match(linesOf((await rq(['info', '-u', db.url, 'later'])).stderr).join('\n'), warningFor('later', 1));
    const workersOnly = await rq(['info', '-u', db.url, '-W', 'later']);
    assert.deepEqual(linesOf(workersOnly.stderr), [], describeRun(workersOnly));
    await db.redis.set('rq:scheduler-lock:later', '1234', 'EX', 60);
    const served = await rq(['info', '-u', db.url, 'later']);
    assert.equal(served.code, 0, describeRun(served));
    assert.deepEqual(linesOf(served.stderr), [], describeRun(served));
  });
});
