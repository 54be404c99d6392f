/**
 * A Worker whose horse takes, runs and records its own jobs (HorseOptions.loop, the default when
 * nothing per job has to run in the worker process), through the real `rq worker` against a real
 * redis-server: where each stage runs, when the worker falls back, and what the worker does for a
 * horse that dies, times out or blocks its event loop.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JOBS_TS, describeRun, runRq, spawnRq, useCliRedis } from '../helpers/cli.js';
import { waitFor } from '../helpers/redis.js';
import { excText, returnValue, status } from '../helpers/worker.js';
import { takenAhead } from '../../lib/Lookahead.js';

const { projects, freshDb } = useCliRedis();

/** Records where the cleanup stage ran, in a horse only: a tap in the worker process would keep the stages there. */
const WHERE_TS = `
export class Where {
  apply(w: any): void {
    if (w.role === 'worker') return;
    w.hooks.cleanup.tapPromise('Where', async () => { await w.connection.rpush('cleanup', \`\${w.role}:\${process.pid}\`); });
  }
}
`;

const MORE_JOBS_TS = `
import { readFileSync } from 'node:fs';
export async function exitSoon(code: number): Promise<never> {
  await new Promise((r) => setImmediate(r));
  process.exit(code);
}
export function exitNow(code: number): never { process.exit(code); }
export function forever(): Promise<never> { return new Promise(() => {}); }
export async function spawnAndWait(): Promise<never> {
  const { spawn } = await import('node:child_process');
  const child = spawn('sleep', ['300'], { stdio: 'ignore' });
  process.stderr.write(\`spawned \${child.pid}\\n\`);
  return new Promise(() => {});
}
export function pidAndSiblings(): { pid: number; siblings: number[] } {
  const text = readFileSync(\`/proc/\${process.ppid}/task/\${process.ppid}/children\`, 'utf8');
  return { pid: process.pid, siblings: text.trim().split(/\\s+/).filter(Boolean).map(Number) };
}
export function block(ms: number): string { const end = Date.now() + ms; while (Date.now() < end) {} return 'unblocked'; }
`;

const HANDLERS_TS = "export async function Note(job: any, err: Error): Promise<void> { await job.connection.rpush('handled', `${process.pid}:${err.message}`); }\n";

describe('rq worker: the horse takes its own jobs', { concurrency: 4 }, () => {
  it('by default every stage of a job runs in the horse; --no-horse-loop keeps them in the worker', async () => {
    const { url, redis, queue } = freshDb();
    const dir = projects.make({ 'jobs.ts': JOBS_TS, 'plug.ts': WHERE_TS });
    const jobs = [await queue().enqueue('jobs.add', 1, 2), await queue().enqueue('jobs.add', 3, 4), await queue().enqueue('jobs.pid')];
    const r = await runRq(['worker', '-b', '-u', url, '-n', 'loop-w', '--plugin', 'plug.Where'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    const horse = await returnValue(redis, jobs[2]!.id);
    assert.notEqual(horse, r.pid, 'the job ran in the horse');
    assert.deepEqual(await redis.lrange('cleanup', 0, -1), [`horse:${horse}`, `horse:${horse}`, `horse:${horse}`], 'the horse recorded each job');
    assert.equal(await returnValue(redis, jobs[1]!.id), 7);
    assert.equal(await redis.hget('rq:worker:loop-w', 'successful_job_count'), '3', 'the stats are the worker\'s');
    // The horse's outcome scripts took the following jobs ahead (one round trip per job), as a
    // SimpleWorker's do: Redis kept what each took in the worker's replay slots.
    const slots = await redis.hmgetBuffer('rq:worker:loop-w', 'rqts_call0', 'rqts_call1', 'rqts_call2', 'rqts_call3');
    const tookAhead = slots.some((v) => v !== null && takenAhead(v.subarray(v.indexOf(' ') + 1)).length > 0);
    assert.ok(tookAhead, `an outcome script took a job ahead: ${JSON.stringify(slots.map(String))}`);

    await redis.del('cleanup');
    const classic = await queue().enqueue('jobs.add', 5, 6);
    const c = await runRq(['worker', '-b', '-u', url, '--plugin', 'plug.Where', '--no-horse-loop'], { cwd: dir });
    assert.equal(c.code, 0, describeRun(c));
    assert.equal(await returnValue(redis, classic.id), 11);
    assert.deepEqual(await redis.lrange('cleanup', 0, -1), [], 'cleanup ran in the worker, not in the horse');
  });

  it('a plugin object tapping a job stage keeps the stages in the worker; --horse-loop then refuses to start and says why', async () => {
    const { url, redis, queue } = freshDb();
    const dir = projects.make({
      'jobs.ts': JOBS_TS,
      'settings.ts': `
export const REDIS_URL = ${JSON.stringify(url)};
export const PLUGINS = [{ apply(w: any) { w.hooks.prepare.tapPromise('Peek', async (job: any) => { await w.connection.rpush('prepared', String(process.pid)); return job; }); } }];
`,
    });
    const job = await queue().enqueue('jobs.add', 2, 2);
    const r = await runRq(['worker', '-b', '-c', 'settings'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(await returnValue(redis, job.id), 4);
    assert.deepEqual(await redis.lrange('prepared', 0, -1), [String(r.pid)], 'the prepare stage ran in the worker process');

    const forced = await runRq(['worker', '-b', '-c', 'settings', '--horse-loop'], { cwd: dir });
    assert.notEqual(forced.code, 0, describeRun(forced));
    assert.match(forced.stderr, /horse\.loop is true, but the horse cannot take its own jobs: the plugin tap "Peek" on the prepare hook runs in the worker process/);
  });

  it('--exception-handler by dotted path runs in the horse that takes its own jobs', async () => {
    const { url, redis, queue } = freshDb();
    const dir = projects.make({ 'jobs.ts': JOBS_TS, 'handlers.ts': HANDLERS_TS });
    const job = await queue().enqueue('jobs.boom', 'bad');
    const r = await runRq(['worker', '-b', '-u', url, '--exception-handler', 'handlers.Note'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    const handled = await redis.lrange('handled', 0, -1);
    assert.equal(handled.length, 1, describeRun(r));
    const [pid, message] = handled[0]!.split(':');
    assert.notEqual(Number(pid), r.pid, 'called in the horse');
    assert.equal(message, 'bad');
    assert.equal(await status(redis, job.id), 'failed');
  });

  // exitSoon dies once the horse has the reply that took jobs ahead (it knows them); exitNow dies
  // before that reply is read (Redis saved the jobs under the script's token).
  for (const [func, before] of [['more.exitSoon', ['a']], ['more.exitNow', ['a', 'b']]] as const) {
    it(`a horse that dies mid-job (${func}): the job fails as rq says, the jobs it took ahead go back at once, in order`, async () => {
      const { url, redis, queue } = freshDb();
      const dir = projects.make({ 'jobs.ts': JOBS_TS, 'more.ts': MORE_JOBS_TS });
      for (const v of before) await queue().enqueue('jobs.record', 'order', v);
      const dying = await queue().enqueue(func, 3);
      const after = ['c', 'd', 'e', 'f'];
      for (const v of after) await queue().enqueue('jobs.record', 'order', v);
      const r = await runRq(['worker', '-b', '-u', url], { cwd: dir });
      assert.equal(r.code, 0, describeRun(r));
      assert.equal(await status(redis, dying.id), 'failed', describeRun(r));
      assert.match(await excText(redis, dying.id), /Work-horse terminated unexpectedly; waitpid returned 768/);
      // Within one burst: without the give-back they would wait in the intermediate list for maintenance.
      assert.deepEqual(await redis.lrange('order', 0, -1), [...before, ...after], describeRun(r));
      assert.equal(await redis.llen('rq:queue:default:intermediate'), 0);
      assert.equal(await redis.zcard('rq:wip:default'), 0);
    });
  }

  it('--max-jobs counts the jobs a horse ran before it died', async () => {
    const { url, redis, queue } = freshDb();
    const dir = projects.make({ 'jobs.ts': JOBS_TS, 'more.ts': MORE_JOBS_TS });
    const first = await queue().enqueue('jobs.add', 1, 1);
    const dying = await queue().enqueue('more.exitSoon', 3);
    const jobs = [await queue().enqueue('jobs.add', 2, 2), await queue().enqueue('jobs.add', 3, 3), await queue().enqueue('jobs.add', 4, 4)];
    const r = await runRq(['worker', '-b', '-u', url, '--max-jobs', '3'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(await status(redis, first.id), 'finished');
    assert.equal(await status(redis, dying.id), 'failed');
    assert.deepEqual(await Promise.all(jobs.map((j) => status(redis, j.id))), ['finished', 'queued', 'queued'], describeRun(r));
    assert.match(r.output, /finished executing 3 jobs, quitting/);
  });

  it('--horse-max-jobs: the next horse is started while the current one works; one that never took over ends with the worker', async () => {
    const { url, redis, queue } = freshDb();
    const dir = projects.make({ 'more.ts': MORE_JOBS_TS });
    const jobs = await queue().enqueueMany(Array.from({ length: 5 }, () => ({ func: 'more.pidAndSiblings' })));
    const r = await runRq(['worker', '-b', '-u', url, '--horse-max-jobs', '2'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    const seen = await Promise.all(jobs.map(async (j) => (await returnValue(redis, j.id)) as { pid: number; siblings: number[] }));
    const horses = [...new Set(seen.map((s) => s.pid))];
    assert.equal(horses.length, 3, `two jobs per horse, the last one's queue then empty: ${JSON.stringify(seen)}`);
    for (const [i, next] of horses.slice(1).entries()) assert.ok(seen[2 * i]!.siblings.includes(next), `horse ${next} was there during job ${2 * i + 1}: ${JSON.stringify(seen)}`);
    const spare = seen[4]!.siblings.find((p) => !horses.includes(p));
    assert.ok(spare !== undefined, `a horse started ahead during job 5: ${JSON.stringify(seen[4])}`);
    assert.throws(() => process.kill(spare, 0), /ESRCH/, 'the horse that never took over has exited');
    assert.equal((r.output.match(/Replacing the work horse/g) ?? []).length, 2, describeRun(r));
  });

  it('a job left running past its timeout fails, and the next job runs in a new horse', async () => {
    const { url, redis, queue } = freshDb();
    const dir = projects.make({ 'jobs.ts': JOBS_TS, 'more.ts': MORE_JOBS_TS });
    const before = await queue().enqueue('jobs.pid');
    const stuck = await queue().enqueueCall({ func: 'more.forever', timeout: 1 });
    const after = await queue().enqueue('jobs.pid');
    const r = await runRq(['worker', '-b', '-u', url], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(await status(redis, stuck.id), 'failed');
    assert.match(await excText(redis, stuck.id), /JobTimeoutException: Task exceeded maximum timeout value \(1 seconds\)/);
    assert.match(r.output, new RegExp(`Replacing the work horse \\(pid \\d+\\) after job ${stuck.id} was left running past its timeout of 1 s`));
    const [p1, p2] = [await returnValue(redis, before.id), await returnValue(redis, after.id)];
    assert.notEqual(p1, p2, 'a new horse after the timeout');
  });

  it('a process a timed-out job started ends with its horse (the horse\'s process group)', async () => {
    const { url, redis, queue } = freshDb();
    const dir = projects.make({ 'jobs.ts': JOBS_TS, 'more.ts': MORE_JOBS_TS });
    const stuck = await queue().enqueueCall({ func: 'more.spawnAndWait', timeout: 1 });
    const r = await runRq(['worker', '-b', '-u', url], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(await status(redis, stuck.id), 'failed');
    const m = /spawned (\d+)/.exec(r.output);
    assert.ok(m, describeRun(r));
    const alive = (): boolean => {
      try {
        process.kill(Number(m[1]), 0);
        return true;
      } catch {
        return false;
      }
    };
    await waitFor(() => !alive(), `the job's child process ${m[1]} to be gone`, 5000);
  });

  it('while a job blocks the horse\'s event loop, the worker keeps the busy heartbeat going', async () => {
    const { url, redis, queue } = freshDb();
    const dir = projects.make({ 'jobs.ts': JOBS_TS, 'more.ts': MORE_JOBS_TS });
    const job = await queue().enqueueCall({ func: 'more.block', args: [4000], timeout: 30 });
    const w = spawnRq(['worker', '-u', url, '-n', 'beat-w', '--job-monitoring-interval', '1'], { cwd: dir });
    try {
      await waitFor(async () => (await status(redis, job.id)) === 'started', 'the job to start');
      const first = await redis.hget('rq:worker:beat-w', 'last_heartbeat');
      const score = Number(await redis.zscore('rq:wip:default', job.id));
      // The horse cannot send one while it spins: a newer heartbeat comes from the worker process.
      await waitFor(async () => (await redis.hget('rq:worker:beat-w', 'last_heartbeat')) !== first, 'a heartbeat while the job blocks', 3000);
      assert.equal(await status(redis, job.id), 'started', 'the job still runs');
      // Scores are whole seconds: a heartbeat in the same second as the claim writes the same score,
      // so the entry is extended by the first heartbeat of a later second (one per second here).
      await waitFor(async () => Number(await redis.zscore('rq:wip:default', job.id)) > score, 'its StartedJobRegistry entry to be extended', 3000);
      assert.equal(await status(redis, job.id), 'started', 'the job still ran when it was extended');
      await waitFor(async () => (await status(redis, job.id)) === 'finished', 'the job to finish', 15_000);
      assert.equal(await returnValue(redis, job.id), 'unblocked');
    } finally {
      assert.equal((await w.stop()).code, 0, w.output);
    }
  });
});
