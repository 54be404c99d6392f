/**
 * What recording several jobs per script call would cost, before building it (issue: performance,
 * round 2; docs/performance.md). Not rq-ts's code path: a Lua script runs, for K jobs per call, the
 * commands rqFinish and its NEXT block run for one job today (lib/redis/lua/rqFinish.lua,
 * include/next.lua, as MONITOR shows them for a busy SimpleWorker), and the driver sends it with the
 * HGETALLs of the jobs it takes behind it, two calls in flight, as the worker does. It prints Redis's
 * CPU per job (INFO cpu) and the driver's own CPU per job for each K, medians of interleaved rounds.
 *
 *   node dist/bench/batching-estimate.js            # K = 1, 2, 4, 8; 3 rounds of 12,000 jobs
 *   BATCH_K=1,4 BENCH_ROUNDS=5 node dist/bench/batching-estimate.js
 *
 * Two ways to keep a SIGKILL from losing a batch, each measured:
 * - `claim`: each call records K outcomes and registers the next K jobs as started (StartedJobRegistry),
 *   as today's claim does one at a time;
 * - `intermediate`: the jobs run while still in their intermediate list (where maintenance puts them
 *   back in their queue) and each call writes their start and outcome together, taking K more ahead.
 * EVALSHA with plain arguments: rq-ts's scripts are functions called with MessagePack arguments and
 * more keys, which cost Redis more per call, so K = 1 here is below a real worker's figure.
 */
import type { Redis } from 'ioredis';
import { Queue } from '../lib/index.js';
import { BenchInputError, envNumber } from './context.js';
import { startRedis } from './redis.js';
import { median, round } from './stats.js';

// The part of each call that does not depend on K: the replay slot, the type checks, Redis's clock.
const PROLOGUE = `
local K = tonumber(ARGV[1]); local w = KEYS[1]; local now = ARGV[2]
redis.call('HGET', w, 'rqts_call' .. ARGV[3])
redis.call('ZCARD', 'rq:finished:bench')
local exists = {'rq:suspended'}
for i = 1, K do
  local k = KEYS[1 + i]
  exists[#exists + 1] = 'rq:results:' .. ARGV[3 + i]
  exists[#exists + 1] = k .. ':dependents'
  exists[#exists + 1] = k .. ':dependencies'
end
redis.call('EXISTS', unpack(exists))
local ts = tonumber(redis.call('TIME')[1])
`;

const RESULT = `redis.call('XADD', 'rq:results:' .. id, 'MAXLEN', '~', '10', '*', 'type', '1', 'worker_name', ARGV[4 + 2 * K], 'execution_started_at', '1796671138.439', 'execution_ended_at', '1796671138.440')
  redis.call('EXPIRE', 'rq:results:' .. id, 500)
  redis.call('EXPIRE', jk, 500)
  redis.call('ZADD', 'rq:finished:bench', ts + 500, id)`;

const SUMMARY = `'3-d2f1bd92-1999 finished started 1 36:c46f572a-9279-41d5-b25b-2e465c6195e5 1 36:c46f572a-9279-41d5-b25b-2e465c6195e5'`;

const SCRIPTS = {
  claim: `${PROLOGUE}
for i = 1, K do
  local id = ARGV[3 + i]; local jk = KEYS[1 + i]
  redis.call('HLEN', jk)
  redis.call('LREM', 'rq:queue:bench:intermediate', '1', id)
  redis.call('ZREM', 'rq:wip:bench', id)
  redis.call('HSET', jk, 'status', 'finished', 'ended_at', now)
  ${RESULT}
  local nid = ARGV[3 + K + i]
  local nk = 'rq:job:' .. nid
  redis.call('LREM', 'rq:queue:bench:intermediate', '1', nid)
  redis.call('HLEN', nk)
  redis.call('HSET', nk, 'status', 'started', 'started_at', now, 'worker_name', ARGV[4 + 2 * K], 'last_heartbeat', now)
  redis.call('PERSIST', nk)
  redis.call('ZADD', 'rq:wip:bench', ts + 240, nid)
  redis.call('LMOVE', 'rq:queue:bench', 'rq:queue:bench:intermediate', 'LEFT', 'RIGHT')
end
local heads = redis.call('LRANGE', 'rq:queue:bench', '0', K)
redis.call('HSET', w, 'current_job', ARGV[4 + K], 'current_job_working_time', '0', 'state', 'busy', 'last_heartbeat', now, 'rqts_call' .. ARGV[3], ${SUMMARY})
redis.call('EXPIRE', w, 240)
return heads`,
  intermediate: `${PROLOGUE}
for i = 1, K do
  local id = ARGV[3 + i]; local jk = KEYS[1 + i]
  redis.call('HLEN', jk)
  redis.call('LREM', 'rq:queue:bench:intermediate', '1', id)
  redis.call('HSET', jk, 'status', 'finished', 'started_at', now, 'ended_at', now, 'worker_name', ARGV[4 + 2 * K], 'last_heartbeat', now)
  ${RESULT}
  redis.call('LMOVE', 'rq:queue:bench', 'rq:queue:bench:intermediate', 'LEFT', 'RIGHT')
end
local heads = redis.call('LRANGE', 'rq:queue:bench', '0', K)
redis.call('HINCRBY', w, 'successful_job_count', K)
redis.call('HINCRBYFLOAT', w, 'total_working_time', '0.001')
redis.call('HSET', w, 'last_heartbeat', now, 'rqts_call' .. ARGV[3], ${SUMMARY})
redis.call('EXPIRE', w, 240)
return heads`,
};
type Variant = keyof typeof SCRIPTS;

const WORKER = 'rq:worker:778717462a7949369ff60c1283f0ad5c';

async function redisCpuSeconds(r: Redis): Promise<number> {
  const info = await r.info('cpu');
  const field = (name: string): number => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? Number.NaN);
  return field('used_cpu_user') + field('used_cpu_sys');
}

/** One run: `jobs` queued, recorded K per call; returns [Redis µs/job, driver µs/job]. */
async function runOnce(r: Redis, variant: Variant, k: number, jobs: number): Promise<[number, number]> {
  await r.flushall();
  const queue = new Queue('bench', { connection: r });
  for (let i = 0; i < jobs; i += 1000) await queue.enqueueMany(Array.from({ length: Math.min(1000, jobs - i) }, () => ({ func: 'bench.jobs.noop' })));
  const ids = await r.lrange(queue.key, 0, -1);
  // As a busy worker has them: the jobs the first call records and starts are taken ahead already.
  for (let i = 0; i < 2 * k; i++) await r.lmove(queue.key, 'rq:queue:bench:intermediate', 'LEFT', 'RIGHT');
  await r.hset(WORKER, 'state', 'busy');
  const sha = (await r.script('LOAD', SCRIPTS[variant])) as string;
  const cpu0 = await redisCpuSeconds(r);
  const own0 = process.cpuUsage();
  const inflight: Promise<unknown>[] = [];
  for (let i = 0, seq = 0; i < jobs; i += k, seq++) {
    const done = ids.slice(i, i + k);
    const next = ids.slice(i + k, i + 2 * k);
    while (next.length < done.length) next.push(ids[ids.length - 1]!);
    const keys = [WORKER, ...done.map((id) => `rq:job:${id}`)];
    const pipe = r.pipeline();
    pipe.evalsha(sha, keys.length, ...keys, String(done.length), '2026-12-07T19:18:58.441000Z', String(seq % 4), ...done, ...next, '778717462a7949369ff60c1283f0ad5c');
    for (const id of next) pipe.hgetallBuffer(`rq:job:${id}`);
    inflight.push(pipe.exec());
    if (inflight.length >= 2) await inflight.shift();
  }
  await Promise.all(inflight);
  const own = process.cpuUsage(own0);
  const redisUs = ((await redisCpuSeconds(r)) - cpu0) * 1e6;
  const finished = await r.zcard('rq:finished:bench');
  if (finished !== jobs) throw new Error(`${variant} K=${k}: ${finished} of ${jobs} jobs recorded`);
  return [redisUs / jobs, (own.user + own.system) / jobs];
}

async function main(): Promise<void> {
  const ks = (process.env.BATCH_K || '1,2,4,8').split(',').map(Number);
  if (ks.some((k) => !Number.isInteger(k) || k < 1 || k > 100)) throw new BenchInputError(`BATCH_K=${process.env.BATCH_K}: give whole numbers from 1 to 100, e.g. BATCH_K=1,4,8`);
  const rounds = Math.round(envNumber('BENCH_ROUNDS', 3));
  const jobs = 12_000;
  const redis = await startRedis();
  const r = redis.client();
  const samples = new Map<string, [number, number][]>();
  try {
    for (let round_ = 0; round_ < rounds; round_++) {
      for (const variant of Object.keys(SCRIPTS) as Variant[]) {
        for (const k of ks) {
          const key = `${variant} ${k}`;
          samples.set(key, [...(samples.get(key) ?? []), await runOnce(r, variant, k, jobs)]);
        }
      }
    }
  } finally {
    await redis.stop();
  }
  console.log(`Redis ${redis.version}, ${jobs} jobs a run, ${rounds} interleaved rounds: median (range) µs per job`);
  console.log('| way | K | Redis CPU | driver CPU |\n|---|---|---|---|');
  for (const [key, runs] of samples) {
    const [variant, k] = key.split(' ');
    const col = (i: 0 | 1): string => {
      const v = runs.map((s) => s[i]);
      return `${round(median(v), 1)} (${round(Math.min(...v), 1)}..${round(Math.max(...v), 1)})`;
    };
    console.log(`| ${variant} | ${k} | ${col(0)} | ${col(1)} |`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`batching estimate failed: ${err instanceof BenchInputError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
