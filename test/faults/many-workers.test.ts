/**
 * Contention: many worker processes on one queue race for every job (the take/claim scripts, the
 * claim-ahead in each outcome script, the blocking waits that all wake on each push). Each job must
 * run exactly once, end finished, and leave nothing behind in the queue, its intermediate list or
 * the started/failed registries.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Redis } from 'ioredis';
import { Queue, Worker } from '../../lib/index.js';
import { waitFor } from '../helpers/redis.js';
import { task } from '../helpers/worker.js';
import { SOAK, useFaultSetup, waitExit, type FaultWorker } from './spawn.js';

const WORKERS = 50;
/** The size runs in about 40 s on 2 cores (most of it starting 50 node processes; 88 s while other suites loaded the machine); the soak size in about 90 s. */
const JOBS = SOAK ? 50_000 : 10_000;
/** Default Workers (job in a horse process); the others are SimpleWorkers, as 50 horses more would crowd 2 cores. */
const HORSE_WORKERS = 5;
/** Seconds the registered fleet is left idle while Redis's CPU is measured. */
const IDLE_S = 5;

/** Redis's own CPU time so far (INFO cpu: used_cpu_sys + used_cpu_user), in microseconds. */
async function redisCpuUs(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const seconds = (field: string): number => {
    const m = new RegExp(`^${field}:([\\d.]+)`, 'm').exec(info);
    assert.ok(m, `INFO cpu has ${field} (got ${info})`);
    return Number(m[1]);
  };
  return (seconds('used_cpu_sys') + seconds('used_cpu_user')) * 1e6;
}

let redis: Redis;
const workers = useFaultSetup('many', (s) => (redis = s.redis));

it(`${WORKERS} workers on one queue with ${JOBS} jobs: each job runs exactly once`, { timeout: SOAK ? 600_000 : 330_000 }, async (t) => {
  const q = 'many';
  const runsKey = 'many:runs';
  const started = Date.now();
  const lap = (): string => `${((Date.now() - started) / 1000).toFixed(1)} s`;
  const fleet: FaultWorker[] = [];
  for (let i = 0; i < WORKERS; i++) {
    // -q: 3 log lines per job from every worker would only cost CPU; warnings and errors still show.
    fleet.push(workers.spawn(['-q', ...(i < HORSE_WORKERS ? [] : ['-w', 'rq.SimpleWorker']), q], SOAK ? 590_000 : 320_000));
  }
  const output = (): string => fleet.map((w) => w.output()).join('').slice(-4000);
  await waitFor(async () => (await Worker.count({ connection: redis })) === WORKERS, `all ${WORKERS} workers to register (output:\n${output()})`, 45_000, 50);
  t.diagnostic(`${WORKERS} workers registered at ${lap()}`);

  // Idle: what the fleet costs Redis while it waits (blocking waits timing out, heartbeats, maintenance).
  const idleFrom = await redisCpuUs(redis);
  const idleStart = Date.now();
  await new Promise((r) => setTimeout(r, IDLE_S * 1000));
  const idleUs = (await redisCpuUs(redis)) - idleFrom;
  const idleSeconds = (Date.now() - idleStart) / 1000;
  const perIdleWorker = idleUs / WORKERS / idleSeconds;

  const queue = new Queue(q, { connection: redis });
  const enqueueFrom = await redisCpuUs(redis);
  const jobs = await queue.enqueueMany(Array.from({ length: JOBS }, () => ({ func: task('recordRun'), args: [runsKey] })));
  const ids = jobs.map((j) => j.id);
  const runFrom = await redisCpuUs(redis);
  t.diagnostic(`${JOBS} jobs enqueued at ${lap()}`);
  await waitFor(
    async () => (await redis.zcard(`rq:finished:${q}`)) === JOBS,
    `all ${JOBS} jobs to finish (output:\n${output()})`,
    // 70 s alone; twice that while another 50-worker fleet shares the 2 cores (two suites at once).
    SOAK ? 500_000 : 240_000,
    100,
  );
  const runUs = (await redisCpuUs(redis)) - runFrom;
  t.diagnostic(`all finished at ${lap()}`);
  // What docs/deployment.md sizes a Redis core by (this test's own polling is in it too: one ZCARD per 100 ms).
  t.diagnostic(
    `Redis CPU: ${((runFrom - enqueueFrom) / JOBS).toFixed(0)} µs per job to enqueue (enqueueMany), ` +
      `${(runUs / JOBS).toFixed(0)} µs per job to run (take, start, record, with ${WORKERS} workers waiting on the queue); ` +
      `idle: ${perIdleWorker.toFixed(1)} µs per idle worker per second (${(idleUs / 1000).toFixed(1)} ms over ${idleSeconds.toFixed(1)} s, ${WORKERS} workers)`,
  );
  assert.ok(runUs > 0 && idleUs > 0, 'INFO cpu moved');

  for (const w of fleet) w.child.kill('SIGTERM');
  const exits = await Promise.all(fleet.map((w) => waitExit(workers, w, 20_000)));
  assert.deepEqual(
    exits.map((e, i) => ({ ...e, name: fleet[i]!.name })).filter((e) => e.code !== 0),
    [],
    `every worker exits 0 on SIGTERM (output:\n${output()})`,
  );
  t.diagnostic(`all stopped at ${lap()}`);

  // Runs, as each job recorded them: every id once, nothing else.
  const runs = await redis.lrange(runsKey, 0, -1);
  const counts = new Map<string, number>();
  for (const id of runs) counts.set(id, (counts.get(id) ?? 0) + 1);
  assert.deepEqual(
    [...counts].filter(([, n]) => n !== 1),
    [],
    'no job ran twice',
  );
  assert.deepEqual(
    ids.filter((id) => !counts.has(id)),
    [],
    'every job ran',
  );
  assert.equal(runs.length, JOBS, 'as many runs as jobs');

  // Outcomes: each finished with one result, nothing left anywhere.
  const pipe = redis.pipeline();
  for (const id of ids) pipe.hget(`rq:job:${id}`, 'status').xlen(`rq:results:${id}`);
  const replies = (await pipe.exec()) ?? [];
  const notFinished: string[] = [];
  const notOneResult: string[] = [];
  ids.forEach((id, i) => {
    if (replies[2 * i]?.[1] !== 'finished') notFinished.push(`${id}: ${String(replies[2 * i]?.[1])}`);
    if (replies[2 * i + 1]?.[1] !== 1) notOneResult.push(`${id}: ${String(replies[2 * i + 1]?.[1])}`);
  });
  assert.deepEqual(notFinished, [], 'every job status finished');
  assert.deepEqual(notOneResult, [], 'every job has exactly one result');
  assert.equal(await redis.llen(`rq:queue:${q}`), 0, 'queue empty');
  assert.equal(await redis.llen(`rq:queue:${q}:intermediate`), 0, 'intermediate list empty');
  assert.equal(await redis.zcard(`rq:wip:${q}`), 0, 'StartedJobRegistry empty');
  assert.equal(await redis.zcard(`rq:failed:${q}`), 0, 'FailedJobRegistry empty');
  assert.equal(await redis.zcard(`rq:finished:${q}`), JOBS, 'every job in the FinishedJobRegistry');

  // The work was shared, and every worker counted what it did (the hashes outlive a clean death by 60 s).
  const perWorker: number[] = [];
  for (const w of fleet) {
    const [ok, failed, death] = await redis.hmget(`rq:worker:${w.name}`, 'successful_job_count', 'failed_job_count', 'death');
    assert.ok(death, `${w.name} registered its death`);
    assert.equal(Number(failed ?? 0), 0, `${w.name} failed no job`);
    perWorker.push(Number(ok ?? 0));
  }
  assert.equal(
    perWorker.reduce((a, b) => a + b, 0),
    JOBS,
    'the workers\' successful_job_count sum to the jobs',
  );
  const busy = perWorker.filter((n) => n > 0).length;
  assert.ok(busy > 1, `more than one worker did work (${busy})`);
  assert.equal(await Worker.count({ connection: redis }), 0, 'every worker left rq:workers');
  t.diagnostic(
    `${JOBS} jobs, ${runs.length} runs recorded, ${WORKERS} workers (${HORSE_WORKERS} with a horse), ${busy} did work: ` +
      `min ${Math.min(...perWorker)}, max ${Math.max(...perWorker)} jobs per worker; horse workers ${perWorker.slice(0, HORSE_WORKERS).join(', ')}`,
  );
});
