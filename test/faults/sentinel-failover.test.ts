/**
 * Sentinel failover under load: CLI workers connected through Sentinel drain a queue while
 * `SENTINEL FAILOVER` promotes the replica. They must follow the new master by themselves and finish.
 * Each run of a job appends its id to a file (a side effect that no failover rolls back), so runs are
 * counted exactly; Redis's own record is read on the new master.
 *
 * What asynchronous replication allows, and nothing more: a write the old master took after the
 * replica stopped copying it is gone. With `min-replicas-to-write 1` the old master refuses writes
 * once its replica has left, so that window is the replication lag: an outcome recorded in it is
 * lost (the job stays started, and maintenance later fails it as abandoned) and a job taken in it
 * is still queued on the new master and runs again. Both are bounded by the jobs in flight.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import type { Redis } from 'ioredis';
import { connect, Queue } from '../../lib/index.js';
import { tempDir } from '../helpers/checkout.js';
import { waitFor } from '../helpers/redis.js';
import { MASTER_NAME, startSentinel, type SentinelSetup } from '../helpers/sentinel.js';
import { task } from '../helpers/worker.js';
import { waitExit, Workers, type FaultWorker } from './spawn.js';

const JOBS = 600;
/** Half SimpleWorkers, half default Workers (job in a horse, which connects through Sentinel too). */
const WORKERS = 4;
/** Milliseconds each job takes, so that the failover lands in the middle of the drain. */
const JOB_MS = 20;
/** Jobs a worker can hold at once: the one it runs and the next, claimed ahead by the outcome script. */
const IN_FLIGHT_PER_WORKER = 2;

let setup: SentinelSetup;
let redis: Redis;
let cwd = '';
const workers = new Workers(() => '', () => cwd, 'failover');

before(async () => {
  setup = await startSentinel(['--min-replicas-to-write', '1', '--min-replicas-max-lag', '10']);
  cwd = tempDir('faults-failover');
  writeFileSync(
    join(cwd, 'settings.ts'),
    `export const SENTINEL = { INSTANCES: [['127.0.0.1', ${setup.sentinelPort}]], MASTER_NAME: '${MASTER_NAME}', DB: 0 };\n`,
  );
  redis = connect({ maxRetriesPerRequest: null, redisOptions: { sentinels: [{ host: '127.0.0.1', port: setup.sentinelPort }], name: MASTER_NAME } });
  redis.on('error', () => {});
});

after(async () => {
  await workers.cleanup();
  redis?.disconnect();
  await setup?.stop();
  if (cwd) rmSync(cwd, { recursive: true, force: true });
});

it(`${WORKERS} workers drain ${JOBS} jobs through SENTINEL FAILOVER and follow the new master`, { timeout: 120_000 }, async (t) => {
  const q = 'failover';
  const runsFile = join(cwd, 'runs.txt');
  writeFileSync(runsFile, '');
  const started = Date.now();
  const lap = (): string => `${((Date.now() - started) / 1000).toFixed(1)} s`;
  const queue = new Queue(q, { connection: redis });
  const jobs = await queue.enqueueMany(Array.from({ length: JOBS }, () => ({ func: task('appendRun'), args: [runsFile, JOB_MS] })));
  const ids = jobs.map((j) => j.id);
  // The jobs are on the replica before any work starts: what the failover may lose is the workers' writes only.
  assert.equal(await redis.call('WAIT', '1', '5000'), 1, 'the replica acknowledged the enqueued jobs');
  const oldMaster = await setup.masterPort();

  const fleet: FaultWorker[] = [];
  for (let i = 0; i < WORKERS; i++) {
    fleet.push(workers.spawn(['-b', '-c', 'settings', ...(i % 2 === 0 ? ['-w', 'rq.SimpleWorker'] : []), q], 100_000));
  }
  const output = (): string => fleet.map((w) => `--- ${w.name}\n${w.output().slice(-3000)}`).join('\n');
  const runs = (): string[] => readFileSync(runsFile, 'utf8').split('\n').filter(Boolean);

  await waitFor(() => runs().length >= JOBS / 3, `a third of the jobs to run (output:\n${output()})`, 60_000, 20);
  t.diagnostic(`${runs().length} runs when SENTINEL FAILOVER was sent at ${lap()}`);
  const newMaster = await setup.failover();
  assert.notEqual(newMaster, oldMaster);
  const runsAtFailover = runs().length;
  t.diagnostic(`new master ${newMaster} (was ${oldMaster}) at ${lap()}, ${runsAtFailover} runs`);

  const exits = await Promise.all(fleet.map((w) => waitExit(workers, w, 90_000)));
  t.diagnostic(`all workers exited at ${lap()}`);
  assert.deepEqual(
    exits.map((e, i) => ({ ...e, name: fleet[i]!.name })).filter((e) => e.code !== 0),
    [],
    `every burst worker exits 0 (output:\n${output()})`,
  );
  assert.ok(runs().length > runsAtFailover, 'jobs ran after the failover');

  // The record on the new master (the client follows Sentinel as the workers do).
  assert.equal(await setup.masterPort(), newMaster, 'no second failover happened');
  const counts = new Map<string, number>();
  for (const id of runs()) counts.set(id, (counts.get(id) ?? 0) + 1);
  const pipe = redis.pipeline();
  for (const id of ids) pipe.hget(`rq:job:${id}`, 'status').xlen(`rq:results:${id}`);
  const replies = (await pipe.exec()) ?? [];
  const statuses = new Map<string, number>();
  const lost: string[] = [];
  ids.forEach((id, i) => {
    const status = String(replies[2 * i]?.[1]);
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    if (status !== 'finished') lost.push(`${id}: ${status}, ${String(replies[2 * i + 1]?.[1])} results, ran ${counts.get(id) ?? 0}x`);
  });
  const reruns = [...counts.values()].reduce((a, n) => a + n - 1, 0);
  const finishedOnNew = await redis.zcard(`rq:finished:${q}`);
  const wip = await redis.zcard(`rq:wip:${q}`);
  t.diagnostic(
    `${JOBS} jobs, ${runs().length} runs, ${reruns} re-runs, outcomes lost ${lost.length}; statuses ${JSON.stringify(Object.fromEntries(statuses))}; ` +
      `finished registry ${finishedOnNew}, StartedJobRegistry ${wip}`,
  );
  if (lost.length) t.diagnostic(`not finished: ${lost.join('; ')}`);

  assert.deepEqual(
    ids.filter((id) => !counts.has(id)),
    [],
    'every job ran',
  );
  assert.equal(await redis.llen(`rq:queue:${q}`), 0, 'queue empty');
  const bound = WORKERS * IN_FLIGHT_PER_WORKER;
  assert.ok(reruns <= bound, `re-runs (${reruns}) at most the jobs in flight at the failover (${bound})`);
  // A lost outcome leaves its job started (maintenance fails it as abandoned later): never anything else.
  for (const line of lost) assert.match(line, /: started,/, 'a job whose outcome was lost stays started');
  assert.ok(lost.length <= bound, `outcomes lost (${lost.length}) at most the jobs in flight (${bound})`);
  assert.equal(finishedOnNew + wip, JOBS, 'every job is in the FinishedJobRegistry or, outcome lost, the StartedJobRegistry');
});
