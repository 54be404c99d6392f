/**
 * Fault injection for group commit (docs/reliability.md "Group commit"): a SimpleWorker killed while
 * it runs short jobs from their intermediate lists, and one whose job blocks its event loop there:
 * no job may be lost; only the few short jobs finished and not yet recorded may run twice. A
 * Worker's horse killed the same way, or by its job: its worker records what the horse's log says,
 * and no job runs twice.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import type { Redis } from 'ioredis';
import { Queue, epochSeconds } from '../../lib/index.js';
import { waitFor } from '../helpers/redis.js';
import { excText, task } from '../helpers/worker.js';
import { childrenOf, useFaultSetup, waitExit } from './spawn.js';

let redis: Redis;
const workers = useFaultSetup('gc', (s) => (redis = s.redis));

/** What a dead worker left in `q`'s intermediate list and StartedJobRegistry, made due for a fresh worker's maintenance now. */
async function skipGrace(q: string): Promise<{ stranded: string[]; wip: string[] }> {
  const wip = await redis.zrange(`rq:wip:${q}`, '0', '-1');
  const stranded = await redis.lrange(`rq:queue:${q}:intermediate`, 0, -1);
  for (const id of wip) await redis.zadd(`rq:wip:${q}`, epochSeconds() - 10, id);
  for (const id of stranded) await redis.set(`rq:queue:${q}:intermediate:first_seen:${id}`, String(epochSeconds() - 3600));
  await redis.del(`rq:clean_registries:${q}`);
  return { stranded, wip };
}

async function assertDrained(q: string): Promise<void> {
  assert.deepEqual(await redis.lrange(`rq:queue:${q}`, 0, -1), [], 'queue empty');
  assert.deepEqual(await redis.lrange(`rq:queue:${q}:intermediate`, 0, -1), [], 'intermediate list empty');
  assert.deepEqual(await redis.zrange(`rq:wip:${q}`, '0', '-1'), [], 'StartedJobRegistry empty');
}

it('SIGKILL a SimpleWorker mid-burst of short jobs: every job ends finished, and fewer than 3 x batch run twice', { timeout: 120_000 }, async (t) => {
  const q = 'gc-kill';
  const runs = 'gc-kill:runs';
  const JOBS = 3000;
  const queue = new Queue(q, { connection: redis });
  const ids: string[] = [];
  for (let i = 0; i < JOBS; i += 500) {
    const jobs = await queue.enqueueMany(Array.from({ length: 500 }, (_, j) => ({ func: task('recordRun'), args: [runs], jobId: `gc-${i + j}` })));
    for (const job of jobs) ids.push(job.id);
  }
  const victim = workers.spawn(['-w', 'rq.SimpleWorker', q]);
  await waitFor(async () => victim.done() || (await redis.llen(runs)) >= 1000, `the victim to run 1,000 jobs (output: ${victim.output()})`, 60_000);
  process.kill(victim.pid, 'SIGKILL');
  const exit = await waitExit(workers, victim, 10_000);
  assert.equal(exit.signal, 'SIGKILL', `killed mid-burst (output: ${victim.output().slice(-2000)})`);
  const left = await skipGrace(q);
  t.diagnostic(`at the kill: ${await redis.llen(runs)} runs, ${await redis.zcard(`rq:finished:${q}`)} recorded; ${left.stranded.length} in the intermediate list, ${left.wip.length} started`);

  const fresh = workers.spawn(['-w', 'rq.SimpleWorker', '-b', q]);
  const freshExit = await waitExit(workers, fresh, 60_000);
  assert.equal(freshExit.code, 0, `fresh burst worker: ${fresh.output().slice(-3000)}`);

  await assertDrained(q);
  const finished = new Set(await redis.zrange(`rq:finished:${q}`, '0', '-1'));
  const failed = await redis.zrange(`rq:failed:${q}`, '0', '-1');
  // Only a job registered as started (one that ran past 2 ms, say on a busy machine) is failed as abandoned.
  for (const id of failed) {
    assert.ok(left.wip.includes(id), `${id} failed but was not registered as started when the worker died`);
    assert.match(await excText(redis, id), /Moved to FailedJobRegistry/);
  }
  const missing = ids.filter((id) => !finished.has(id) && !failed.includes(id));
  assert.deepEqual(missing, [], 'every job is finished (or failed as abandoned)');
  const counts = new Map<string, number>();
  for (const id of await redis.lrange(runs, 0, -1)) counts.set(id, (counts.get(id) ?? 0) + 1);
  assert.deepEqual(ids.filter((id) => finished.has(id) && !counts.has(id)), [], 'a finished job ran');
  const twice = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
  t.diagnostic(`ran twice: ${twice.join(', ') || 'none'}`);
  // At most batch - 1 waiting for their batch and two batches whose calls had not reached Redis (batch 8).
  assert.ok(twice.length < 24, `ran twice: ${twice.join(', ')}`);
  for (const id of twice) assert.ok(left.stranded.includes(id), `${id} ran twice but was not left in the intermediate list`);
  for (const id of ids) if (finished.has(id)) assert.equal(await redis.hget(`rq:job:${id}`, 'status'), 'finished', id);
});

it("a job that blocks a SimpleWorker's event loop past its timeout among short jobs is failed by the watchdog, not run again", { timeout: 120_000 }, async () => {
  const q = 'gc-spin';
  const queue = new Queue(q, { connection: redis });
  const before = await queue.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ func: task('add'), args: [i, 1] })));
  const spin = await queue.enqueueCall({ func: task('spin'), timeout: 1 });
  const after = await queue.enqueueMany(Array.from({ length: 5 }, (_, i) => ({ func: task('add'), args: [i, 2] })));
  const victim = workers.spawn(['-w', 'rq.SimpleWorker', '-b', q]);
  const exit = await waitExit(workers, victim, 60_000);
  assert.equal(exit.signal, 'SIGKILL', `the watchdog ends the process (output: ${victim.output().slice(-2000)})`);
  assert.equal(await redis.hget(spin.key, 'status'), 'failed');
  assert.match(await excText(redis, spin.id), /JobTimeoutException: Task exceeded maximum timeout value \(1 seconds\)/);
  assert.ok(!(await redis.lrange(`rq:queue:${q}:intermediate`, 0, -1)).includes(spin.id), 'out of the intermediate list');

  // The short jobs whose outcomes waited for their batch are put back and run by the next worker.
  await skipGrace(q);
  const fresh = workers.spawn(['-w', 'rq.SimpleWorker', '-b', q]);
  const freshExit = await waitExit(workers, fresh, 60_000);
  assert.equal(freshExit.code, 0, `fresh burst worker: ${fresh.output().slice(-3000)}`);
  await assertDrained(q);
  for (const job of [...before, ...after]) assert.equal(await job.getStatus(), 'finished', job.id);
  assert.equal(await redis.hget(spin.key, 'status'), 'failed', 'not run again');
});

/** How many times each job ran, from the `recordRun` list `key`. */
async function runCounts(key: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const id of await redis.lrange(key, 0, -1)) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

/** Lines "Recorded N jobs that the work horse finished before it died" in a worker's output: the jobs recorded from horse logs. */
function recordedFromLogs(output: string): number {
  let n = 0;
  for (const m of output.matchAll(/Recorded (\d+) jobs? that the work horse finished before it died/g)) n += Number(m[1]);
  return n;
}

it("SIGKILL a Worker's horse mid-burst of short jobs, again and again: each job ends finished or failed, none runs twice", { timeout: 120_000 }, async (t) => {
  const q = 'gc-horse-kill';
  const runs = 'gc-horse-kill:runs';
  const JOBS = 3000;
  const KILLS = 6;
  const queue = new Queue(q, { connection: redis });
  const ids: string[] = [];
  for (let i = 0; i < JOBS; i += 500) {
    const jobs = await queue.enqueueMany(Array.from({ length: 500 }, (_, j) => ({ func: task('recordRun'), args: [runs], jobId: `gch-${i + j}` })));
    for (const job of jobs) ids.push(job.id);
  }
  const w = workers.spawn(['-q', q], 110_000);
  let kills = 0;
  for (let k = 1; k <= KILLS; k++) {
    // Mid-burst: a few hundred jobs into each horse's run.
    await waitFor(async () => w.done() || (await redis.llen(runs)) >= (k * JOBS) / (KILLS + 2), `${k} x ${JOBS / (KILLS + 2)} runs (output: ${w.output().slice(-2000)})`, 60_000);
    const horse = childrenOf(w.pid)[0];
    if (horse === undefined) continue;
    try {
      process.kill(horse, 'SIGKILL');
      kills++;
    } catch {
      // it had just been replaced
    }
    await waitFor(() => childrenOf(w.pid)[0] !== horse, 'the dead horse to be gone', 10_000);
  }
  // Drained: nothing queued or started, the worker idle.
  await waitFor(
    async () => w.done() || ((await redis.llen(`rq:queue:${q}`)) === 0 && (await redis.zcard(`rq:wip:${q}`)) === 0 && (await redis.hget(`rq:worker:${w.name}`, 'state')) === 'idle'),
    `the worker to run or record every job (output:\n${w.output().slice(-3000)})`,
    60_000,
  );
  assert.ok(!w.done(), `the worker survived: ${w.output().slice(-3000)}`);
  w.child.kill('SIGTERM');
  assert.equal((await waitExit(workers, w, 20_000)).code, 0, `warm shutdown: ${w.output().slice(-2000)}`);
  // A death on a loaded machine can leave a job in the intermediate list (docs/reliability.md): maintenance puts it back.
  const { stranded } = await skipGrace(q);
  if (stranded.length > 0 || (await redis.llen(`rq:queue:${q}`)) > 0) {
    const fresh = workers.spawn(['-q', '-b', q]);
    assert.equal((await waitExit(workers, fresh, 60_000)).code, 0, `fresh burst worker: ${fresh.output().slice(-3000)}`);
  }
  await assertDrained(q);

  const counts = await runCounts(runs);
  const pipe = redis.pipeline();
  for (const id of ids) pipe.hget(`rq:job:${id}`, 'status');
  const statuses = ((await pipe.exec()) ?? []).map(([, s]) => s as string | null);
  let failed = 0;
  for (const [i, id] of ids.entries()) {
    assert.ok((counts.get(id) ?? 0) <= 1, `${id} ran ${counts.get(id)} times`);
    if (statuses[i] === 'finished') {
      assert.equal(counts.get(id), 1, `${id} finished and ran once`);
      continue;
    }
    assert.equal(statuses[i], 'failed', id);
    failed++;
    assert.match(await excText(redis, id), /Work-horse terminated unexpectedly; waitpid returned 9 \(signal 9\)/, id);
  }
  // A kill catches up to batch - 1 finished jobs waiting for their batch: recorded from the horse's log.
  t.diagnostic(`kills: ${kills}; failed: ${failed}; recorded from the horses' logs: ${recordedFromLogs(w.output())}; left in the intermediate list: ${stranded.length}`);
  assert.ok(kills >= 3, `enough kills landed mid-burst (${kills})`);
  assert.ok(failed <= kills, `no more jobs failed (${failed}) than horses were killed (${kills})`);
});

it("a short job that kills a Worker's horse among short jobs is failed, runs once, and the jobs before it are recorded finished", { timeout: 120_000 }, async (t) => {
  const q = 'gc-horse-poison';
  const runs = 'gc-horse-poison:runs';
  const file = join(mkdtempSync(join(tmpdir(), 'rq-gc-')), 'poison-runs');
  const queue = new Queue(q, { connection: redis });
  const before = await queue.enqueueMany(Array.from({ length: 30 }, () => ({ func: task('recordRun'), args: [runs] })));
  const poison = await queue.enqueue(task('appendRunThenKillSelf'), file);
  const after = await queue.enqueueMany(Array.from({ length: 30 }, () => ({ func: task('recordRun'), args: [runs] })));
  const w = workers.spawn(['-q', '-b', q], 110_000);
  const exit = await waitExit(workers, w, 100_000);
  assert.equal(exit.code, 0, `burst worker: ${w.output().slice(-3000)}`);

  assert.equal(readFileSync(file, 'utf8'), `${poison.id}\n`, 'the poison job ran once');
  assert.equal(await redis.hget(poison.key, 'status'), 'failed');
  assert.match(await excText(redis, poison.id), /Work-horse terminated unexpectedly; waitpid returned 9 \(signal 9\)/);
  const counts = await runCounts(runs);
  const left = `queue ${JSON.stringify(await redis.lrange(`rq:queue:${q}`, 0, -1))}, intermediate ${JSON.stringify(await redis.lrange(`rq:queue:${q}:intermediate`, 0, -1))}`;
  for (const job of [...before, ...after]) {
    assert.equal(await job.getStatus(), 'finished', `${job.id} (${left}; output: ${w.output().slice(-3000)})`);
    assert.equal(counts.get(job.id), 1, `${job.id} ran once`);
  }
  await assertDrained(q);
  // When the poison job ran directly (the job before it took under 2 ms), the jobs still waiting
  // for their batch were recorded from the dead horse's log.
  t.diagnostic(`recorded from the horse's log: ${recordedFromLogs(w.output())}`);
});
