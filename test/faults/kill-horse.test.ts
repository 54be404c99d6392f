/**
 * Fault injection for a Worker whose horse takes its own jobs (the default): SIGKILL the horse at
 * random instants while it runs short jobs (two taken ahead at any time). Without any maintenance
 * sweep, every job must end finished or failed with rq's terminated-horse text, nothing may be left
 * in the queue, its intermediate list or the StartedJobRegistry, and no job may run twice.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Redis } from 'ioredis';
import { Queue } from '../../lib/index.js';
import { waitFor } from '../helpers/redis.js';
import { excText, task } from '../helpers/worker.js';
import { childrenOf, prng, useFaultSetup, waitExit } from './spawn.js';

const JOBS = 600;
const KILLS = 12;

let redis: Redis;
const workers = useFaultSetup('killhorse', (s) => (redis = s.redis));

it(`SIGKILL the horse ${KILLS} times over ${JOBS} short jobs: each ends finished or failed, none left behind, none run twice`, { timeout: 58_000 }, async (t) => {
  const q = 'kh';
  const runsKey = 'kh:runs';
  const rand = prng(0x5eed);
  const queue = new Queue(q, { connection: redis });
  const jobs = await queue.enqueueMany(Array.from({ length: JOBS }, (_, i) => ({ func: task('slowRecord'), args: [runsKey, `kh-${i}`, 1 + Math.floor(rand() * 4)], jobId: `kh-${i}` })));
  const w = workers.spawn([q]);
  let kills = 0;
  while (kills < KILLS && (await redis.llen(`rq:queue:${q}`)) > 0) {
    // The horse of this moment (a new one after each kill), then a random instant: that is the fault.
    const horse = await waitFor(() => childrenOf(w.pid)[0], `a horse of worker ${w.name} (output: ${w.output().slice(-2000)})`, 20_000);
    await waitFor(async () => (await redis.hget(`rq:worker:${w.name}`, 'current_job')) !== null || (await redis.llen(`rq:queue:${q}`)) === 0, 'the horse to take a job');
    await new Promise((r) => setTimeout(r, Math.floor(rand() * 60)));
    try {
      process.kill(horse, 'SIGKILL');
      kills++;
    } catch {
      // it had just been replaced
    }
    await waitFor(() => childrenOf(w.pid)[0] !== horse, 'the dead horse to be gone', 10_000);
  }
  t.diagnostic(`kills: ${kills}`);
  assert.ok(kills >= 5, `enough kills landed before the queue drained (${kills})`);

  await waitFor(
    async () => (await redis.llen(`rq:queue:${q}`)) === 0 && (await redis.llen(`rq:queue:${q}:intermediate`)) === 0 && (await redis.zcard(`rq:wip:${q}`)) === 0,
    `the worker to run or record every job (output:\n${w.output().slice(-3000)})`,
    30_000,
  );
  assert.ok(!w.done(), `the worker survived: ${w.output().slice(-2000)}`);
  w.child.kill('SIGTERM');
  assert.equal((await waitExit(workers, w, 20_000)).code, 0, `warm shutdown: ${w.output().slice(-2000)}`);

  const runs = new Map<string, number>();
  for (const v of await redis.lrange(runsKey, 0, -1)) runs.set(v, (runs.get(v) ?? 0) + 1);
  const pipe = redis.pipeline();
  for (const job of jobs) pipe.hget(job.key, 'status');
  const statuses = ((await pipe.exec()) ?? []).map(([, s]) => s as string | null);
  let failed = 0;
  for (const [i, job] of jobs.entries()) {
    const status = statuses[i];
    assert.ok(status === 'finished' || status === 'failed', `${job.id}: ${status}`);
    assert.ok((runs.get(job.id) ?? 0) <= 1, `${job.id} ran ${runs.get(job.id)} times`);
    if (status === 'finished') {
      assert.equal(runs.get(job.id), 1, `${job.id} finished and ran once`);
    } else {
      failed++;
      assert.match(await excText(redis, job.id), /Work-horse terminated unexpectedly; waitpid returned 9 \(signal 9\)/, job.id);
    }
  }
  t.diagnostic(`failed (killed mid-job): ${failed}, finished: ${JOBS - failed}`);
  assert.ok(failed <= kills, `no more jobs failed (${failed}) than horses were killed (${kills})`);
});

it('a horse ended by its blocked-loop watchdog before the timeout was recorded: its worker records the death and the timeout', { timeout: 58_000 }, async () => {
  const q = 'khblocked';
  // 3 s: the writes must be paused before the watchdog records (2 s after the deadline at the most,
  // with the job's start still to be seen); with 1 s a loaded machine once let the record through first.
  const job = await new Queue(q, { connection: redis }).enqueueCall({ func: task('spin'), timeout: 3 });
  const w = workers.spawn([q]);
  await waitFor(async () => (await redis.hget(job.key, 'status')) === 'started', `job ${job.id} to start (output: ${w.output().slice(-2000)})`, 30_000);
  // The watchdog records the timeout 1 s past the deadline and waits 5 s for Redis: writes paused for
  // longer, it ends the horse with nothing recorded, and the worker records the job once they resume.
  await redis.call('CLIENT', 'PAUSE', '12000', 'WRITE');
  await waitFor(async () => (await redis.hget(job.key, 'status')) === 'failed', `job ${job.id} to be recorded (output: ${w.output().slice(-2000)})`, 30_000, 100);
  const exc = await excText(redis, job.id);
  assert.match(exc, /terminated unexpectedly/, exc);
  assert.match(exc, /past its timeout \(3 s\)/, exc);
  w.child.kill('SIGTERM');
  assert.equal((await waitExit(workers, w, 20_000)).code, 0, `warm shutdown: ${w.output().slice(-2000)}`);
});
