/**
 * `rq worker` forks its first work horse before it loads its own modules (lib/horse/fork.ts), so that
 * both load at once on two cores; through the real CLI against a real redis-server. The early horse
 * is used only when it was started as a late one would be, and ended when the worker needs none.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { describeRun, JOBS_TS, runRq, spawnRq, useCliRedis } from '../helpers/cli.js';
import { waitFor } from '../helpers/redis.js';
import { returnValue, status } from '../helpers/worker.js';

const { projects, freshDb } = useCliRedis();

const TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/**
 * Jobs that say how their horse was started: how long before or after the worker began loading its
 * settings (seconds since boot, in the clock-tick resolution of /proc, from the file the settings
 * write) and with what environment.
 */
const EARLY_TS = `
import { readFileSync } from 'node:fs';
const forkedAt = (): number => Number(readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')[19]) / ${TICKS_PER_SECOND};
export function forkedAfterSettings(): number { return forkedAt() - Number(readFileSync('settings-loading-at', 'utf8')); }
export function env(name: string): string | null { return process.env[name] ?? null; }
`;

/**
 * A settings module that notes when it began loading (seconds since boot, as /proc/uptime has it) and
 * keeps the worker busy for 1.5 s, as a heavy config would.
 */
const slowSettings = (url: string, extra = ''): string => `
import { readFileSync, writeFileSync } from 'node:fs';
writeFileSync('settings-loading-at', readFileSync('/proc/uptime', 'utf8').split(' ')[0]!);
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500);
export const REDIS_URL = ${JSON.stringify(url)};
${extra}
`;

/** The pids of `pid`'s child processes. */
function childrenOf(pid: number): number[] {
  const out = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8', timeout: 5000 }).stdout;
  return out.split('\n').map((l) => Number(l.trim())).filter((n) => n > 0);
}

describe('rq worker: the horse forked early', { concurrency: 3 }, () => {
  it('is forked before the worker loads its config, and is the horse that runs the jobs, named after its worker', async () => {
    const { redis, queue, url } = freshDb();
    const dir = projects.make({ 'early.ts': EARLY_TS, 'settings.ts': slowSettings(url) });
    const when = await queue().enqueue('early.forkedAfterSettings');
    const name = await queue().enqueue('early.env', 'RQ_WORKER_ID');
    const r = await runRq(['worker', '-b', '-c', 'settings', '-n', 'early-w'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    const after = (await returnValue(redis, when.id)) as number;
    // A horse forked once the worker is set up would start 1.5 s or more after its settings began loading.
    assert.ok(after <= 0, `the horse was forked ${after} s after the worker began loading its settings; ${describeRun(r)}`);
    assert.equal(await returnValue(redis, name.id), 'early-w');
  });

  it('is not used when the config changed the environment meanwhile: the jobs see what the config set', async () => {
    const { redis, queue, url } = freshDb();
    const dir = projects.make({ 'early.ts': EARLY_TS, 'settings.ts': slowSettings(url, "process.env.RQ_EARLY_MARK = 'set by the config';") });
    const mark = await queue().enqueue('early.env', 'RQ_EARLY_MARK');
    const when = await queue().enqueue('early.forkedAfterSettings');
    const r = await runRq(['worker', '-b', '-c', 'settings'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(await returnValue(redis, mark.id), 'set by the config', describeRun(r));
    assert.ok(((await returnValue(redis, when.id)) as number) >= 1.4, 'a new horse was forked after the settings loaded');
  });

  it('is ended when the config makes it a SimpleWorker, which runs its jobs in its own process', async () => {
    const { redis, queue, url } = freshDb();
    const dir = projects.make({ 'jobs.ts': JOBS_TS, 'settings.ts': slowSettings(url, "export const WORKER_CLASS = 'rq.SimpleWorker';") });
    const job = await queue().enqueue('jobs.pid');
    const w = spawnRq(['worker', '-c', 'settings'], { cwd: dir });
    try {
      await waitFor(async () => (await status(redis, job.id)) === 'finished', 'the job to finish', 60_000);
      assert.equal(await returnValue(redis, job.id), w.pid, 'the job ran in the worker process');
      await waitFor(() => childrenOf(w.pid).length === 0, 'the early horse to be gone', 10_000);
    } finally {
      const exit = await w.stop();
      assert.equal(exit.code, 0, describeRun({ ...exit, output: w.output }));
    }
  });
});
