/**
 * Fault injection: SIGKILL a worker at random instants while it runs jobs (another worker runs all
 * along), start a replacement after each kill, then let a fresh worker's maintenance recover what
 * the dead left behind. Every job must end finished, failed with a reason, or requeued and then
 * finished; none may be lost and none may run to completion twice.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Redis } from 'ioredis';
import { Queue, epochSeconds } from '../../lib/index.js';
import { waitFor } from '../helpers/redis.js';
import { excText, task } from '../helpers/worker.js';
import { SOAK, alive, prng, useFaultSetup, waitExit, type FaultWorker } from './spawn.js';

const JOBS = SOAK ? 2000 : 200;
const KILLS = SOAK ? 150 : 15;

let redis: Redis;
const workers = useFaultSetup('kill', (s) => (redis = s.redis));

it(`SIGKILL at random instants over ${JOBS} jobs and ${KILLS} kills: nothing lost, nothing completed twice`, { timeout: SOAK ? 600_000 : 240_000 }, async (t) => {
  const q = 'kw';
  const doneKey = 'kw:done';
  const rand = prng(0xc0ffee);
  const queue = new Queue(q, { connection: redis });
  const ids: string[] = [];
  for (let i = 0; i < JOBS; i++) {
    const jobId = `kw-${i}`;
    // The value recorded is the job's own id. 50-140 ms each: long enough that the kills land before
    // the steady worker drains the queue by itself.
    const job = await queue.enqueueCall({ func: task('slowRecord'), args: [doneKey, jobId, 50 + Math.floor(rand() * 90)], jobId });
    ids.push(job.id);
  }
  t.diagnostic(`enqueued ${JOBS}`);

  // It runs through the rest of the test: its deadline is the test's. It starts once the first kills
  // have landed: on a busy machine a victim takes seconds to start, and the steady worker alone could
  // drain the queue before enough kills, leaving nothing to test.
  const startSteady = (): FaultWorker => workers.spawn([q], SOAK ? 590_000 : 225_000);
  let steady: FaultWorker | null = null;
  let kills = 0;
  let midJob = 0;
  const remaining = async (): Promise<number> => (await redis.llen(`rq:queue:${q}`)) + (await redis.llen(`rq:queue:${q}:intermediate`));
  while (kills < KILLS && (await remaining()) > 0) {
    if (!steady && kills >= Math.min(5, KILLS)) steady = startSteady();
    const victim = workers.spawn([q]);
    // Wait until it works (registered, past its startup), then a random instant: that is the fault.
    await waitFor(
      async () => victim.done() || (await redis.hget(`rq:worker:${victim.name}`, 'state')) !== null || (await remaining()) === 0,
      `victim ${victim.name} to register (output: ${victim.output()})`,
      60_000,
    );
    await new Promise((r) => setTimeout(r, Math.floor(rand() * 300)));
    workers.noteHorses(victim);
    if ((await redis.hget(`rq:worker:${victim.name}`, 'current_job')) ?? '') midJob++;
    process.kill(victim.pid, 'SIGKILL');
    const exit = await waitExit(workers, victim, 10_000);
    assert.equal(exit.signal, 'SIGKILL');
    kills++;
  }
  steady ??= startSteady();
  t.diagnostic(`kills: ${kills} (${midJob} seen mid-job)`);
  assert.ok(kills >= Math.min(5, KILLS), `enough kills landed before the queue drained (${kills})`);
  assert.ok(!steady.done(), `the steady worker is still running: ${steady.output().slice(-2000)}`);

  // The steady worker drains the queue by itself.
  await waitFor(async () => (await redis.llen(`rq:queue:${q}`)) === 0, 'the queue to drain', SOAK ? 300_000 : 40_000);
  await waitFor(async () => (await redis.hget(`rq:worker:${steady.name}`, 'state')) === 'idle', 'the steady worker to be idle', 20_000);
  steady.child.kill('SIGTERM');
  const steadyExit = await waitExit(workers, steady, 20_000);
  assert.equal(steadyExit.code, 0, `steady worker warm shutdown: ${steady.output().slice(-2000)}`);
  // Orphaned horses of the victims end by themselves (they may finish the job they were running).
  await waitFor(() => workers.liveHorses().length === 0, `orphaned horses to exit: ${workers.liveHorses()}`, 20_000);

  // Make what the dead left behind expire, and skip the intermediate grace period.
  const wip = await redis.zrange(`rq:wip:${q}`, '0', '-1');
  const stranded = await redis.lrange(`rq:queue:${q}:intermediate`, 0, -1);
  t.diagnostic(`abandoned in wip: ${wip.length}; stranded in intermediate: ${stranded.length}`);
  for (const id of wip) await redis.zadd(`rq:wip:${q}`, epochSeconds() - 10, id);
  for (const id of stranded) await redis.set(`rq:queue:${q}:intermediate:first_seen:${id}`, String(epochSeconds() - 3600));
  await redis.del(`rq:clean_registries:${q}`);

  const fresh = workers.spawn(['-b', q]);
  const freshExit = await waitExit(workers, fresh, 40_000);
  assert.equal(freshExit.code, 0, `fresh burst worker: ${fresh.output().slice(-3000)}`);

  // Accounting.
  const inQueue = await redis.lrange(`rq:queue:${q}`, 0, -1);
  const inInter = await redis.lrange(`rq:queue:${q}:intermediate`, 0, -1);
  const inWip = await redis.zrange(`rq:wip:${q}`, '0', '-1');
  const finished = new Set(await redis.zrange(`rq:finished:${q}`, '0', '-1'));
  const failed = new Set(await redis.zrange(`rq:failed:${q}`, '0', '-1'));
  assert.deepEqual(inQueue, [], 'queue empty');
  assert.deepEqual(inInter, [], 'intermediate list empty');
  assert.deepEqual(inWip, [], 'StartedJobRegistry empty');
  const missing = ids.filter((id) => !finished.has(id) && !failed.has(id));
  assert.deepEqual(missing, [], 'every job is finished or failed');
  const both = ids.filter((id) => finished.has(id) && failed.has(id));
  assert.deepEqual(both, [], 'no job is both finished and failed');

  const recorded = await redis.lrange(doneKey, 0, -1);
  const counts = new Map<string, number>();
  for (const v of recorded) counts.set(v, (counts.get(v) ?? 0) + 1);
  const twice = [...counts].filter(([, n]) => n > 1);
  assert.deepEqual(twice, [], 'no job ran to completion twice');

  for (const id of ids) {
    const status = await redis.hget(`rq:job:${id}`, 'status');
    if (finished.has(id)) {
      assert.equal(status, 'finished', `${id} status`);
      assert.equal(counts.get(id), 1, `finished job ${id} recorded exactly once`);
    } else {
      assert.equal(status, 'failed', `${id} status`);
      const exc = await excText(redis, id);
      assert.match(exc, /Moved to FailedJobRegistry|Work-horse terminated/, `failed job ${id} has a reason: ${exc}`);
    }
  }
  t.diagnostic(`finished ${finished.size}, failed ${failed.size}, recorded ${recorded.length}, kills ${kills}`);
  assert.ok(!alive(steady.pid));
});
