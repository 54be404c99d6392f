/**
 * Fault injection: Redis refusing commands for a while with a "not now" error reply during a burst.
 * BUSY: another client runs a read-only Lua script that spins 1.5 s (with busy-reply-threshold 100 ms,
 * Redis answers -BUSY to everyone meanwhile), ten times during a 400-job burst, for SimpleWorker and
 * the default Worker. OOM: maxmemory 1 byte with noeviction, twice during a burst. Each job appends
 * its id to a file (not to Redis, which refuses): every job must have run exactly once, be finished
 * and in the FinishedJobRegistry, with nothing left queued, started or between queue and registry
 * when the burst worker exits, and one log line per outage, not per attempt.
 *
 * Also: a stop while Redis answers BUSY ends within SHUTDOWN_TIMEOUT (a refused probe counts as down).
 *
 * LOADING: DEBUG RELOAD of a dataset padded with 20,000 keys, each loaded 75 µs slowly (key-load-delay,
 * and other clients answered every 1 KB loaded),
 * three times during a burst: Redis answers -LOADING for about 1.5 s each time, as after a restart.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { Queue, connect } from '../../lib/index.js';
import { waitFor } from '../helpers/redis.js';
import { task } from '../helpers/worker.js';
import { useFaultSetup, waitExit, type FaultSetup, type FaultWorker } from './spawn.js';

let setup: FaultSetup;
// DEBUG (POPULATE, RELOAD) for the LOADING case; the server is a throwaway on loopback.
const workers = useFaultSetup('transient', (s) => (setup = s), { redisArgs: ['--enable-debug-command', 'yes'] });

const JOBS = 400;
const SPELLS = 10;
/** A read-only script (TIME only: SCRIPT KILL can end it) that spins for ARGV[1] seconds. */
const SPIN = `local t = redis.call('TIME')
local start = tonumber(t[1]) + tonumber(t[2]) / 1e6
while true do
  local n = redis.call('TIME')
  if tonumber(n[1]) + tonumber(n[2]) / 1e6 - start > tonumber(ARGV[1]) then break end
end
return 1`;

function runs(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function burst(q: string, file: string, args: string[]): Promise<{ ids: string[]; w: FaultWorker }> {
  const { redis } = setup;
  await redis.flushall();
  const queue = new Queue(q, { connection: redis });
  const jobs = await queue.enqueueMany(Array.from({ length: JOBS }, (_, i) => ({ func: task('appendRun'), args: [file, 20], jobId: `${q}-${i}` })));
  const w = workers.spawn(['-b', ...args, q], 240_000);
  // The fault starts once the worker runs jobs: a spell before it registers would test start-up instead.
  await waitFor(() => runs(file).length >= 5, 'the first jobs to run', 60_000);
  workers.noteHorses(w);
  return { ids: jobs.map((j) => j.id), w };
}

/** What every case ends with: each job ran once and is finished, nothing left anywhere else. */
async function assertAllRecordedOnce(redis: Redis, q: string, file: string, ids: string[]): Promise<{ lost: number; twice: number }> {
  const counts = new Map<string, number>();
  for (const id of runs(file)) counts.set(id, (counts.get(id) ?? 0) + 1);
  const twice = [...counts.values()].filter((n) => n > 1).length;
  const statuses = await Promise.all(ids.map((id) => redis.hget(`rq:job:${id}`, 'status')));
  const notFinished = ids.filter((_, i) => statuses[i] !== 'finished');
  assert.deepEqual(notFinished, [], 'every job finished');
  assert.equal(twice, 0, 'no job ran twice');
  assert.equal(counts.size, JOBS, 'every job ran');
  assert.equal(await redis.zcard(`rq:finished:${q}`), JOBS, 'every job in the FinishedJobRegistry');
  assert.equal(await redis.zcard(`rq:wip:${q}`), 0, 'nothing left started');
  assert.equal(await redis.llen(`rq:queue:${q}:intermediate`), 0, 'nothing left between queue and registry');
  assert.equal(await redis.llen(`rq:queue:${q}`), 0, 'nothing left queued');
  assert.equal(await redis.zcard(`rq:failed:${q}`), 0, 'nothing failed');
  return { lost: JOBS - counts.size, twice };
}

describe('transient error replies during a burst are waited out', { concurrency: 1 }, () => {
  for (const c of [
    { label: 'SimpleWorker', args: ['-w', 'rq.SimpleWorker'] },
    { label: 'Worker', args: [] },
  ]) {
    it(`BUSY: ${SPELLS} spinning scripts of 1.5 s during a ${JOBS}-job burst (${c.label}): every job finished exactly once`, async () => {
      const { redis, server } = setup;
      const q = `busy${c.label}`;
      const file = join(setup.cwd, `${q}.runs`);
      await redis.config('SET', 'busy-reply-threshold', '100');
      const { ids, w } = await burst(q, file, c.args);
      const spinner = connect(server.url);
      const t0 = Date.now();
      let duringRun = 0;
      try {
        for (let i = 0; i < SPELLS; i++) {
          if (!w.done()) duringRun++;
          await spinner.eval(SPIN, 0, '1.5');
          // Between spells the worker gets 300 ms to run jobs, and meets the next spell mid-job.
          await sleep(300);
        }
      } finally {
        spinner.disconnect();
      }
      assert.equal(duringRun, SPELLS, `every spell began while the burst ran (it ended after ${runs(file).length} runs)`);
      const exit = await waitExit(workers, w, 180_000);
      const out = w.output();
      assert.equal(exit.code, 0, out.slice(-4000));
      const figures = await assertAllRecordedOnce(redis, q, file, ids);
      const outages = out.match(/Redis cannot answer \(BUSY/g)?.length ?? 0;
      assert.ok(outages >= 1, `the outages were logged:\n${out.slice(-4000)}`);
      // One line per outage per process (the worker and its horse may both meet one), not one per attempt.
      assert.ok(outages <= 2 * SPELLS, `${outages} outage lines for ${SPELLS} spells:\n${out.slice(-4000)}`);
      assert.equal(out.match(/Redis answers again/g)?.length, outages, 'each outage logged as ended');
      assert.doesNotMatch(out, /Could not record|Could not dequeue|Heartbeat failed/);
      console.log(`BUSY ${c.label}: ${JOBS} jobs, ${SPELLS} spells, lost ${figures.lost}, ran twice ${figures.twice}, ${outages} outage lines, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    });
  }

  it(`OOM: maxmemory below what Redis uses (noeviction), twice during a ${JOBS}-job burst (Worker): nothing lost`, async () => {
    const { redis } = setup;
    const q = 'oom';
    const file = join(setup.cwd, `${q}.runs`);
    const { ids, w } = await burst(q, file, []);
    await redis.config('SET', 'maxmemory-policy', 'noeviction');
    let duringRun = 0;
    const outageLines = (): number => w.output().match(/Redis cannot answer \(OOM/g)?.length ?? 0;
    for (let i = 0; i < 2; i++) {
      if (!w.done()) duringRun++;
      const before = outageLines();
      await redis.config('SET', 'maxmemory', '1');
      // Held until the worker has met it: Redis refused one of its script calls (a function that may
      // write is refused as a whole under maxmemory), which it logs once and retries.
      await waitFor(() => outageLines() > before || w.done(), 'the worker to meet maxmemory', 30_000);
      await sleep(1000);
      await redis.config('SET', 'maxmemory', '0');
      await sleep(500);
    }
    assert.equal(duringRun, 2, 'each spell began while the burst ran');
    const exit = await waitExit(workers, w, 180_000);
    const out = w.output();
    assert.equal(exit.code, 0, out.slice(-4000));
    const figures = await assertAllRecordedOnce(redis, q, file, ids);
    assert.doesNotMatch(out, /Could not record|Could not dequeue/);
    const outages = outageLines();
    assert.ok(outages >= 2, `each spell refused the worker's calls: ${outages} outage lines`);
    console.log(`OOM Worker: ${JOBS} jobs, 2 spells, lost ${figures.lost}, ran twice ${figures.twice}, ${outages} outage lines`);
  });

  it(`LOADING: three reloads of a padded dataset during a ${JOBS}-job burst (SimpleWorker): every job finished exactly once`, async () => {
    const { redis, server } = setup;
    const q = 'loading';
    const file = join(setup.cwd, `${q}.runs`);
    const { ids, w } = await burst(q, file, ['-w', 'rq.SimpleWorker']);
    const admin = connect(server.url);
    let duringRun = 0;
    try {
      await admin.call('DEBUG', 'POPULATE', '20000', 'pad');
      await admin.config('SET', 'key-load-delay', '75');
      // Redis answers other clients while it loads only between chunks of this size (default 2 MB: more than the dataset).
      await admin.config('SET', 'loading-process-events-interval-bytes', '1024');
      for (let i = 0; i < 3; i++) {
        if (!w.done()) duringRun++;
        // Saves, then loads the dataset again: everyone else is answered -LOADING until it is read.
        await admin.call('DEBUG', 'RELOAD');
        await sleep(300);
      }
      await admin.config('SET', 'key-load-delay', '0');
    } finally {
      admin.disconnect();
    }
    assert.equal(duringRun, 3, 'each reload began while the burst ran');
    const exit = await waitExit(workers, w, 180_000);
    const out = w.output();
    assert.equal(exit.code, 0, out.slice(-4000));
    const figures = await assertAllRecordedOnce(redis, q, file, ids);
    const outages = out.match(/Redis cannot answer \(LOADING/g)?.length ?? 0;
    assert.ok(outages >= 1, `the outages were logged:\n${out.slice(-4000)}`);
    assert.doesNotMatch(out, /Could not record|Could not dequeue|Heartbeat failed/);
    console.log(`LOADING SimpleWorker: ${JOBS} jobs, 3 reloads, lost ${figures.lost}, ran twice ${figures.twice}, ${outages} outage lines`);
  });

  it('a stop while Redis answers BUSY is bounded by SHUTDOWN_TIMEOUT: a refused probe counts as down', async () => {
    const { redis, server } = setup;
    await redis.flushall();
    await redis.config('SET', 'busy-reply-threshold', '100');
    const q = 'busystop';
    const w = workers.spawn(['-w', 'rq.SimpleWorker', '--shutdown-timeout', '2', q], 60_000);
    await waitFor(async () => (await redis.hget(`rq:worker:${w.name}`, 'state')) === 'idle', 'the worker to be idle', 30_000);
    const spinner = connect(server.url);
    spinner.on('error', () => {});
    // 20 s of BUSY: far longer than the stop may take.
    const spell = spinner.eval(SPIN, 0, '20').catch(() => 'killed');
    const killer = connect(server.url);
    try {
      await waitFor(async () => /^BUSY/.test(String(await killer.ping().catch((err: Error) => err.message))), 'Redis to answer BUSY', 10_000);
      const t0 = Date.now();
      w.child.kill('SIGTERM');
      const exit = await waitExit(workers, w, 15_000);
      const took = Date.now() - t0;
      assert.equal(exit.code, 1, w.output());
      assert.match(w.output(), /has not answered for 2 s since the stop was requested/);
      assert.ok(took < 2_000 + 4_000, `exited ${took} ms after the signal, with Redis busy for 20 s`);
      console.log(`stop during BUSY: exited ${took} ms after SIGTERM (shutdown timeout 2 s)`);
    } finally {
      await killer.call('SCRIPT', 'KILL').catch(() => {});
      await spell;
      killer.disconnect();
      spinner.disconnect();
    }
  });
});
