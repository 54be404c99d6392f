/**
 * RQ_PROTOCOL (lib/protocol.ts): under protocol 2 our worker writes rq 2.x's executions, which
 * python-rq 2.10 reads (job.get_executions(), its StartedJobRegistry's composite members) while the
 * job runs, and finds gone once it ended; 'auto' writes protocol 1 while a python-rq 1.x worker is
 * registered (its cleanup cannot read composite members) and 2 otherwise.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { connect, Queue } from '../../lib/index.js';
import { RQ_2, runPython } from '../helpers/python.js';
import { startRedis, waitFor, type RedisServer } from '../helpers/redis.js';
import { repoRoot } from '../helpers/worker.js';
import { tempDir } from '../helpers/checkout.js';

const bin = join(repoRoot, 'dist/lib/cli/main.js');

// `held` runs until the key `release` exists; `members` records the StartedJobRegistry as the job saw it.
const TASKS = `
import { getCurrentJob } from ${JSON.stringify(join(repoRoot, 'dist/lib/index.js'))};
export async function held(): Promise<string> {
  const r = getCurrentJob()!.connection;
  while (!(await r.exists('release'))) await new Promise((ok) => setTimeout(ok, 20));
  return 'released';
}
export function noop(): void {}
export async function members(queue: string): Promise<void> {
  const r = getCurrentJob()!.connection;
  await r.rpush('members', ...(await r.zrange('rq:wip:' + queue, 0, -1)));
}
`;

const PRELUDE = `
import os, sys, json, warnings
warnings.simplefilter('ignore')
from redis import Redis
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.registry import StartedJobRegistry, FailedJobRegistry
r = Redis(host='127.0.0.1', port=int(os.environ['REDIS_PORT']))
V = json.loads(os.environ.get('VALUES', 'null'))
def out(x):
    sys.stdout.write(json.dumps(x))
`;

let server: RedisServer;
let redis: Redis;
let cwd = '';
const running = new Set<ChildProcess>();

function py<T>(code: string, values?: unknown): T {
  const env: Record<string, string> = { REDIS_PORT: String(server.port) };
  if (values !== undefined) env.VALUES = JSON.stringify(values);
  return JSON.parse(runPython(`${PRELUDE}\n${code}`, env, cwd, RQ_2)) as T;
}

function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('RQ_') && !k.startsWith('REDIS_')) env[k] = v;
  return env;
}

interface Spawned {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function spawnWorker(name: string, args: string[], env: Record<string, string> = {}): Spawned {
  const child = spawn(process.execPath, [bin, 'worker', '-u', server.url, '-n', name, ...args], { cwd, env: { ...cleanEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  running.add(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((ok) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      ok({ code, signal });
    }),
  );
  return { child, output: () => out, exited };
}

async function exitWithin(w: Spawned, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([w.exited, new Promise<'timeout'>((ok) => (timer = setTimeout(() => ok('timeout'), ms)))]);
  clearTimeout(timer);
  if (r === 'timeout') {
    if (w.child.pid) process.kill(-w.child.pid, 'SIGKILL');
    await w.exited;
    assert.fail(`the worker did not exit within ${ms} ms; output:\n${w.output()}`);
  }
  return r;
}

before(async () => {
  server = await startRedis();
  redis = connect(server.url);
  cwd = tempDir('executions');
  writeFileSync(join(cwd, 'tasks.ts'), TASKS);
});

after(async () => {
  for (const child of running) if (child.pid) process.kill(-child.pid, 'SIGKILL');
  redis.disconnect();
  await server.stop();
  rmSync(cwd, { recursive: true, force: true });
});

describe('python-rq 2.10 reads the executions of our protocol-2 worker', { skip: RQ_2.python ? false : RQ_2.reason }, () => {
  it('job.get_executions() names the run while it runs (heartbeats included), and is empty after', async () => {
    await redis.flushdb();
    const job = await new Queue('ex', { connection: redis }).enqueue('tasks.held');
    const w = spawnWorker('ts-exec', ['--protocol', '2', '--job-monitoring-interval', '1', 'ex']);
    try {
      const member = await waitFor(async () => (await redis.zrange('rq:wip:ex', '0', '-1'))[0], `job ${job.id} to start (output: ${w.output()})`, 30_000);
      const execId = member.slice(job.id.length + 1);
      assert.equal(member, `${job.id}:${execId}`, 'a composite StartedJobRegistry member');
      assert.match(execId, /^[0-9a-f]{32}$/, "an execution id as 2.x's (uuid4 hex)");
      // The busy heartbeat (every second, from the worker process for its horse's job) moves the execution's.
      const created = Number(await redis.hget(`rq:execution:${member}`, 'created_at'));
      await waitFor(async () => Number(await redis.hget(`rq:execution:${member}`, 'last_heartbeat')) > created + 0.5, 'a heartbeat of the execution', 15_000, 50);
      const seen = py<{ executions: { id: string; job_id: string; created: number; heartbeat: number }[]; registry: string[][]; worker: string; ttl: number; score: number }>(
        `
job = Job.fetch(V['id'], connection=r, serializer=JSONSerializer)
# both scores in one MULTI: a heartbeat between two reads would move one of them
p = r.pipeline()
p.zscore('rq:executions:' + job.id, V['exec'])
p.zscore('rq:wip:ex', job.id + ':' + V['exec'])
in_executions, in_wip = p.execute()
out(dict(
    executions=[dict(id=e.id, job_id=e.job_id, created=e.created_at.timestamp(), heartbeat=e.last_heartbeat.timestamp()) for e in job.get_executions()],
    registry=[list(t) for t in StartedJobRegistry('ex', connection=r, serializer=JSONSerializer).get_job_and_execution_ids()],
    worker=job.worker_name,
    ttl=r.ttl('rq:executions:' + job.id),
    score=in_executions - in_wip,
))
`,
        { id: job.id, exec: execId },
      );
      assert.equal(seen.executions.length, 1, JSON.stringify(seen));
      assert.equal(seen.executions[0]!.id, execId);
      assert.equal(seen.executions[0]!.job_id, job.id);
      assert.ok(seen.executions[0]!.heartbeat > seen.executions[0]!.created, 'last_heartbeat moved on');
      assert.deepEqual(seen.registry, [[job.id, execId]]);
      assert.equal(seen.worker, 'ts-exec', "the job's worker_name is ours");
      // As ExecutionRegistry.add: scored 60 s past the StartedJobRegistry entry, and expiring with it.
      assert.equal(seen.score, 60);
      assert.ok(seen.ttl > 60 && seen.ttl <= 1 + 60 + 60, `executions set TTL ${seen.ttl}`);

      await redis.set('release', '1');
      await waitFor(async () => (await redis.hget(job.key, 'status')) === 'finished', 'the job to finish', 15_000);
      const done = py<{ executions: unknown[]; wip: number; exists: number; result_exec: string | null }>(
        `
job = Job.fetch(V['id'], connection=r, serializer=JSONSerializer)
out(dict(
    executions=[e.id for e in job.get_executions()],
    wip=r.zcard('rq:wip:ex'),
    exists=r.exists('rq:execution:' + job.id + ':' + V['exec'], 'rq:executions:' + job.id),
    result_exec=job.latest_result().execution_id,
))
`,
        { id: job.id, exec: execId },
      );
      assert.deepEqual(done, { executions: [], wip: 0, exists: 0, result_exec: execId });
      assert.equal(await redis.hget('rq:worker:ts-exec', 'rqts_execution'), null, 'the worker hash no longer names the execution');
    } finally {
      // An assertion that failed above left the job held: released, the warm shutdown can end it and
      // that failure is the one reported.
      await redis.set('release', '1');
      w.child.kill('SIGTERM');
      assert.equal((await exitWithin(w, 15_000)).code, 0, w.output());
    }
  });

  it("2.10's StartedJobRegistry.cleanup fails the job of our SIGKILLed protocol-2 worker", async () => {
    await redis.flushdb();
    const job = await new Queue('dead', { connection: redis }).enqueue('tasks.held');
    const w = spawnWorker('ts-dead', ['--protocol', '2', 'dead']);
    const member = await waitFor(async () => (await redis.zrange('rq:wip:dead', '0', '-1'))[0], `job ${job.id} to start (output: ${w.output()})`, 30_000);
    // The worker and its horse (same process group) die at once: nothing records the job.
    process.kill(-w.child.pid!, 'SIGKILL');
    assert.equal((await exitWithin(w, 10_000)).signal, 'SIGKILL');
    // Its heartbeats stopped long ago: the entry's score is in the past.
    await redis.zadd('rq:wip:dead', Math.floor(Date.now() / 1000) - 10, member);
    const seen = py<Record<string, unknown>>(
      `
StartedJobRegistry('dead', connection=r, serializer=JSONSerializer).cleanup()
job = Job.fetch(V['id'], connection=r, serializer=JSONSerializer)
out(dict(
    status=job.get_status(),
    failed=job.id in FailedJobRegistry('dead', connection=r, serializer=JSONSerializer).get_job_ids(),
    wip=r.zcard('rq:wip:dead'),
    exc_info=job.latest_result().exc_string,
))
`,
      { id: job.id },
    );
    assert.equal(seen.status, 'failed');
    assert.equal(seen.failed, true, "in 2.10's FailedJobRegistry");
    assert.equal(seen.wip, 0, 'out of the StartedJobRegistry');
    assert.match(String(seen.exc_info), /^Moved to FailedJobRegistry, due to AbandonedJobError, at /);
  });
});

describe('protocol 2 in our own worker', () => {
  for (const concurrency of [1, 4]) it(`400 short jobs (claimed by outcome scripts, taken ahead; concurrency ${concurrency}) stopped midway: every execution ended, nothing left started`, async () => {
    await redis.flushdb();
    const q = new Queue('many', { connection: redis });
    const jobs = await q.enqueueMany(Array.from({ length: 400 }, () => ({ func: 'tasks.noop', args: [] })));
    const w = spawnWorker('ts-many', ['--protocol', '2', '--concurrency', String(concurrency), 'many']);
    await waitFor(async () => (await redis.zcard('rq:finished:many')) >= 50, `50 jobs to finish (output: ${w.output()})`, 30_000, 5);
    w.child.kill('SIGTERM');
    assert.equal((await exitWithin(w, 15_000)).code, 0, w.output());
    const finished = await redis.zcard('rq:finished:many');
    const queued = await redis.llen('rq:queue:many');
    assert.ok(finished < jobs.length, `stopped midway (${finished} finished)`);
    assert.equal(finished + queued, jobs.length, 'each job finished or back in its queue');
    assert.equal(await redis.zcard('rq:wip:many'), 0, 'nothing left started');
    assert.equal(await redis.llen('rq:queue:many:intermediate'), 0, 'nothing left taken');
    const left: string[] = [];
    for (const pattern of ['rq:execution:*', 'rq:executions:*']) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        left.push(...keys);
        cursor = next;
      } while (cursor !== '0');
    }
    assert.deepEqual(left, [], 'every execution ended (outcome recorded or job given back)');
  });

  it('a SIGKILLed horse: the worker process fails its job under its execution, and the execution ends', async () => {
    await redis.flushdb();
    const job = await new Queue('hk', { connection: redis }).enqueue('tasks.held');
    const w = spawnWorker('ts-hk', ['--protocol', '2', 'hk']);
    try {
      const member = await waitFor(async () => (await redis.zrange('rq:wip:hk', '0', '-1'))[0], `job ${job.id} to start (output: ${w.output()})`, 30_000);
      const execId = member.slice(job.id.length + 1);
      assert.equal(await redis.hget('rq:worker:ts-hk', 'rqts_execution'), execId, 'the worker hash names the execution');
      const horse = await waitFor(() => {
        const r = spawnSync('ps', ['-o', 'pid=', '--ppid', String(w.child.pid)], { encoding: 'utf8', timeout: 5000 });
        return Number.parseInt((r.stdout ?? '').trim(), 10) || 0;
      }, 'the horse pid');
      // (Its cmdline is its process title by now, so killHorse's check would not know it.)
      process.kill(horse, 'SIGKILL');
      await waitFor(async () => (await redis.hget(job.key, 'status')) === 'failed', `the job to be failed by the worker (output: ${w.output()})`, 20_000);
      assert.equal(await redis.zcard('rq:wip:hk'), 0, 'its composite member is gone');
      assert.equal(await redis.exists(`rq:execution:${member}`, `rq:executions:${job.id}`), 0, 'its execution keys are gone');
      assert.equal(await redis.hget('rq:worker:ts-hk', 'rqts_execution'), null);
      const entry = await redis.xrevrange(`rq:results:${job.id}`, '+', '-', 'COUNT', 1);
      const fields = entry[0]![1];
      assert.equal(fields[fields.indexOf('execution_id') + 1], execId, "the failure Result names the horse's execution");
      assert.equal(w.child.exitCode, null, 'the worker goes on');
    } finally {
      w.child.kill('SIGTERM');
      assert.equal((await exitWithin(w, 15_000)).code, 0, w.output());
    }
  });
});

describe('RQ_PROTOCOL=auto', () => {
  /** Runs a burst worker with RQ_PROTOCOL=auto (the environment, as a deployment sets it) over one `members` job; returns its log and what the job saw. */
  async function autoRun(queue: string): Promise<{ log: string; members: string[]; id: string }> {
    await redis.del('members');
    const job = await new Queue(queue, { connection: redis }).enqueue('tasks.members', queue);
    const w = spawnWorker(`ts-auto-${queue}`, ['-b', queue], { RQ_PROTOCOL: 'auto' });
    const exit = await exitWithin(w, 30_000);
    assert.equal(exit.code, 0, w.output());
    assert.equal(await redis.hget(job.key, 'status'), 'finished', w.output());
    return { log: w.output(), members: await redis.lrange('members', 0, -1), id: job.id };
  }

  it('writes protocol 1 while a python-rq 1.x worker is registered, 2 once none is', async () => {
    await redis.flushdb();
    // A python-rq 1.13 worker as it registers itself (rq 1.13 worker.register_birth).
    await redis.hset('rq:worker:py-old', { birth: '2026-12-06T00:00:00.000000Z', version: '1.13.0', python_version: '3.11.2', queues: 'other', state: 'idle' });
    await redis.sadd('rq:workers', 'rq:worker:py-old');
    // A 2.x Python worker and another rq-ts worker do not count against protocol 2.
    await redis.hset('rq:worker:py-new', { birth: '2026-12-06T00:00:00.000000Z', version: '2.10.0', python_version: '3.11.2', queues: 'other', state: 'idle' });
    await redis.hset('rq:worker:ts-other', { birth: '2026-12-06T00:00:00.000000Z', version: '0.1.0', python_version: 'node v20.0.0', queues: 'other', state: 'idle' });
    await redis.sadd('rq:workers', 'rq:worker:py-new', 'rq:worker:ts-other');

    const one = await autoRun('auto1');
    assert.match(one.log, /Protocol 1 \(rq 1\.13's bare StartedJobRegistry ids\): RQ_PROTOCOL is auto and python-rq 1\.x workers are registered: py-old \(python-rq 1\.13\.0\);/);
    assert.deepEqual(one.members, [one.id], 'a bare StartedJobRegistry member');
    assert.equal(await redis.exists(`rq:executions:${one.id}`), 0, 'no executions written');

    await redis.srem('rq:workers', 'rq:worker:py-old');
    await redis.del('rq:worker:py-old');
    const two = await autoRun('auto2');
    assert.match(two.log, /Protocol 2 \(rq 2\.x executions\): RQ_PROTOCOL is auto and no python-rq 1\.x worker is registered/);
    assert.equal(two.members.length, 1);
    assert.match(two.members[0]!, new RegExp(`^${two.id}:[0-9a-f]{32}$`), 'a composite StartedJobRegistry member');
    assert.equal(await redis.exists(`rq:executions:${two.id}`), 0, 'its execution ended with the job');
  });

  it('PROTOCOL in a config module: 2 writes executions; a bad value is refused naming the key', async () => {
    await redis.flushdb();
    writeFileSync(join(cwd, 'proto2.ts'), 'export const PROTOCOL = 2;\n');
    writeFileSync(join(cwd, 'protobad.ts'), "export const PROTOCOL = 'two';\n");
    const job = await new Queue('cfg', { connection: redis }).enqueue('tasks.members', 'cfg');
    const w = spawnWorker('ts-cfg', ['-c', 'proto2', '-b', 'cfg']);
    assert.equal((await exitWithin(w, 30_000)).code, 0, w.output());
    assert.match(w.output(), /Protocol 2 \(rq 2\.x executions\): RQ_PROTOCOL is 2/);
    assert.match((await redis.lrange('members', 0, -1))[0] ?? '', new RegExp(`^${job.id}:[0-9a-f]{32}$`));
    const bad = spawnWorker('ts-cfg-bad', ['-c', 'protobad', '-b', 'cfg']);
    assert.notEqual((await exitWithin(bad, 15_000)).code, 0);
    assert.match(bad.output(), /PROTOCOL = "two" is not valid; expected 1, 2 or 'auto'/);
  });

  it('a bad --protocol is refused at start with what is allowed', async () => {
    const w = spawnWorker('ts-bad', ['--protocol', '3', 'q']);
    const exit = await exitWithin(w, 15_000);
    assert.notEqual(exit.code, 0);
    assert.match(w.output(), /--protocol.*expected 1, 2 or auto/);
  });
});
