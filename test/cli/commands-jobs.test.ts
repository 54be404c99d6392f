/**
 * `rq info --registries`, `rq jobs` and `rq job` through the real binary against a real
 * redis-server: one database holds jobs in every registry (finished and failed by our worker,
 * then queued, scheduled, deferred and canceled ones), and each command's text and --json output
 * is checked against what Redis holds.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { JOBS_TS, describeRun, linesOf, runRq, useCliRedis, type TestDb } from '../helpers/cli.js';

const { projects, freshDb } = useCliRedis();

function rq(args: string[]) {
  return runRq(args, { cwd: projects.make({ 'jobs.ts': JOBS_TS }), env: { COLUMNS: '80' }, timeoutMs: 30_000 });
}

let db: TestDb;
const ids: Record<string, string> = {};

describe('rq info --registries, rq jobs, rq job', { concurrency: 4 }, () => {
  before(async () => {
    db = freshDb();
    const q = db.queue();
    ids.ok1 = (await q.enqueue('jobs.add', 1, 2)).id;
    ids.ok2 = (await q.enqueue('jobs.add', 3, 4)).id;
    ids.boom1 = (await q.enqueue('jobs.boom', 'first')).id;
    ids.boom2 = (await q.enqueue('jobs.boom', 'second')).id;
    const r = await rq(['worker', '-b', '-u', db.url, 'default']);
    assert.equal(r.code, 0, describeRun(r));
    ids.queued = (await q.enqueue('jobs.add', 5, 6)).id;
    ids.scheduled = (await q.enqueueAt(new Date(Date.now() + 3600_000), 'jobs.add', 7, 8)).id;
    ids.deferred = (await q.enqueueCall({ func: 'jobs.add', args: [9, 10], dependsOn: [ids.queued] })).id;
    const canceled = await q.enqueue('jobs.noop');
    await canceled.cancel();
    ids.canceled = canceled.id;
  });

  it('rq info keeps rq 1.13\'s lines; --registries adds every registry\'s count to each queue line', async () => {
    const plain = await rq(['info', '-u', db.url, '-Q']);
    assert.deepEqual(linesOf(plain.stdout), ['default      |█ 1', '1 queues, 1 jobs total'], describeRun(plain));
    const all = await rq(['info', '-u', db.url, '-Q', '--registries']);
    assert.deepEqual(
      linesOf(all.stdout),
      ['default      |█ 1, 0 started, 1 scheduled, 1 deferred, 2 finished, 2 failed, 1 canceled', '1 queues, 1 jobs total'],
      describeRun(all),
    );
    const raw = await rq(['info', '-u', db.url, '-Q', '-r', '--registries']);
    assert.deepEqual(linesOf(raw.stdout), ['queue default 1, 0 started, 1 scheduled, 1 deferred, 2 finished, 2 failed, 1 canceled'], describeRun(raw));
  });

  it('rq jobs lists a registry page by page, in text and JSON, oldest first as the registry orders them', async () => {
    const failedIds = await db.redis.zrange('rq:failed:default', '0', '-1');
    assert.equal(failedIds.length, 2);
    const all = await rq(['jobs', 'default', '-u', db.url, '--registry', 'failed', '--json']);
    assert.equal(all.code, 0, describeRun(all));
    const page = JSON.parse(all.stdout) as { total: number; jobs: { id: string; status: string; callString: string }[] };
    assert.equal(page.total, 2);
    assert.deepEqual(page.jobs.map((j) => j.id), failedIds);
    assert.deepEqual(page.jobs.map((j) => j.status), ['failed', 'failed']);
    const second = await rq(['jobs', 'default', '-u', db.url, '-r', 'failed', '--limit', '1', '--offset', '1']);
    const lines = linesOf(second.stdout);
    assert.equal(lines.length, 2, describeRun(second));
    assert.match(lines[0]!, new RegExp(`^${failedIds[1]} failed jobs\\.boom\\('(first|second)'\\)$`));
    assert.equal(lines[1], 'jobs 2-2 of 2 failed in queue default');
    const queued = await rq(['jobs', 'default', '-u', db.url]);
    assert.deepEqual(linesOf(queued.stdout), [`${ids.queued} queued jobs.add(5, 6)`, 'jobs 1-1 of 1 queued in queue default']);
    const scheduled = await rq(['jobs', 'default', '-u', db.url, '-r', 'scheduled', '--json']);
    assert.deepEqual((JSON.parse(scheduled.stdout) as { jobs: { id: string }[] }).jobs.map((j) => j.id), [ids.scheduled]);
    const none = await rq(['jobs', 'default', '-u', db.url, '-r', 'started']);
    assert.deepEqual(linesOf(none.stdout), ['no jobs of 0 started in queue default']);
  });

  it('rq job shows a failed job\'s traceback, a finished job\'s result and results history, dependencies; --json for scripts', async () => {
    const failed = await rq(['job', ids.boom1!, '-u', db.url]);
    assert.equal(failed.code, 0, describeRun(failed));
    assert.match(failed.stdout, /^status: +failed$/m);
    assert.match(failed.stdout, /^call: +jobs\.boom\('first'\)$/m);
    assert.match(failed.stdout, /^exc_info:\n[\s\S]*TypeError: first/m);
    const finished = JSON.parse((await rq(['job', ids.ok2!, '-u', db.url, '--json'])).stdout) as {
      status: string;
      result: string;
      args: unknown[];
      results: { type: string; returnValue: string }[];
    };
    assert.equal(finished.status, 'finished');
    assert.equal(finished.result, '7');
    assert.deepEqual(finished.args, [3, 4]);
    assert.deepEqual(finished.results.map((r) => [r.type, r.returnValue]), [['successful', '7']]);
    const deferred = await rq(['job', ids.deferred!, '-u', db.url]);
    assert.match(deferred.stdout, new RegExp(`^depends on: +${ids.queued}$`, 'm'));
    const parent = await rq(['job', ids.queued!, '-u', db.url]);
    assert.match(parent.stdout, new RegExp(`^dependents: +${ids.deferred}$`, 'm'));
  });

  it('bad input: an unknown job id, a corrupt job hash, an unknown registry each get one clear line', async () => {
    const unknown = await rq(['job', 'no-such-job', '-u', db.url]);
    assert.equal(unknown.code, 1, describeRun(unknown));
    assert.equal(unknown.stderr, 'Error: No such job: no-such-job (rq:job:no-such-job does not exist)\n');
    await db.redis.hset('rq:job:corrupt', { data: 'not zlib, not json', status: 'failed', origin: 'default' });
    const corrupt = await rq(['job', 'corrupt', '-u', db.url]);
    assert.equal(corrupt.code, 0, describeRun(corrupt));
    assert.match(corrupt.stdout, /^error: +Job corrupt has data that cannot be decoded/m);
    const registry = await rq(['jobs', 'default', '-u', db.url, '-r', 'bogus']);
    assert.equal(registry.code, 2, describeRun(registry));
    assert.match(registry.stderr, /Unknown registry "bogus": expected one of queued, started, scheduled, deferred, finished, failed, canceled/);
  });
});
