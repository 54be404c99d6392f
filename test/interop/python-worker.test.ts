/**
 * Worker-level interop with python-rq 1.13 (Debian's python3-rq) over one throwaway redis-server:
 * Python enqueues and our `rq worker` runs; Python sees our worker (Worker.all, `rq info`); Python's
 * registry cleanup handles our dead worker's job; Node enqueues and Python's worker runs
 * (rq-wire-protocol.md §3, §4, §6).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { Job, Queue, connect, epochSeconds } from '../../lib/index.js';
import { PYTHON_RQS, RQ_1, pythonEnv, runPython, type PythonRq } from '../helpers/python.js';
import { startRedis, waitFor, type RedisServer } from '../helpers/redis.js';
import { alive, killHorse } from '../helpers/processes.js';
import { repoRoot } from '../helpers/worker.js';
import { tempDir } from '../helpers/checkout.js';

const bin = join(repoRoot, 'dist/lib/cli/main.js');

const TASKS = `
export function add(a: number, b: number): number {
  return a + b;
}

export function boom(): never {
  throw new TypeError('kaboom from tasks.ts');
}

export function sleepForever(): Promise<never> {
  return new Promise(() => setInterval(() => {}, 1000));
}
`;

const PRELUDE = `
import os, sys, json, warnings
warnings.simplefilter('ignore')
from redis import Redis
from rq import Queue, Worker
from rq.job import Job
from rq.results import Result
from rq.serializers import JSONSerializer
from rq.registry import StartedJobRegistry, FailedJobRegistry, FinishedJobRegistry
r = Redis(host='127.0.0.1', port=int(os.environ['REDIS_PORT']))
V = json.loads(os.environ.get('VALUES', 'null'))

def fetch(job_id):
    return Job.fetch(job_id, connection=r, serializer=JSONSerializer)

def out(x):
    sys.stdout.write(json.dumps(x))
`;

let server: RedisServer;
let redis: Redis;
let cwd = '';
const running = new Set<ChildProcess>();
/** Horses seen, killed at the end in case a failure left one orphaned (they lead their own groups). */
const horses = new Set<number>();

/** Runs `code` after PRELUDE (REDIS_PORT and VALUES in its environment) and parses what it printed. */
function py<T = Record<string, unknown>>(code: string, values?: unknown): T {
  const env: Record<string, string> = { REDIS_PORT: String(server.port) };
  if (values !== undefined) env.VALUES = JSON.stringify(values);
  const stdout = runPython(`${PRELUDE}\n${code}`, env, cwd, RQ);
  try {
    return JSON.parse(stdout) as T;
  } catch (err) {
    throw new Error(`python printed no JSON document: ${stdout}`, { cause: err });
  }
}

/** `python3 -m rq.cli <args>` (python-rq's own CLI), bounded. */
function rqCli(args: string[], timeoutMs = 60_000): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(RQ.python!, ['-m', 'rq.cli', ...args], { cwd, encoding: 'utf8', timeout: timeoutMs, env: pythonEnv(RQ, cleanEnv()), killSignal: 'SIGKILL' });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('RQ_')) env[k] = v;
  return env;
}

interface SpawnedWorker {
  child: ChildProcess;
  pid: number;
  name: string;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

let counter = 0;

/** Our `rq worker -u <url> -n <name> <args...>`, run from the temp dir that holds tasks.ts. */
function spawnWorker(args: string[]): SpawnedWorker {
  const name = `tsworker${process.pid}x${++counter}`;
  const child = spawn(process.execPath, [bin, 'worker', '-u', server.url, '-n', name, ...args], {
    cwd,
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  running.add(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  assert.ok(child.pid);
  return { child, pid: child.pid, name, output: () => out, exited };
}

function killGroup(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

async function waitExit(w: SpawnedWorker, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  const r = await Promise.race([w.exited, timeout]);
  clearTimeout(timer);
  if (r === 'timeout') {
    killGroup(w.child);
    await w.exited;
    assert.fail(`worker ${w.name} did not exit within ${ms} ms; output:\n${w.output()}`);
  }
  return r;
}


/** The python-rq the running suite is parametrized with (suites in a file run one after another). */
let RQ: PythonRq = RQ_1;

for (const rq of PYTHON_RQS) describe(`python-rq ${rq.label} and our worker`, { skip: rq.python ? false : rq.reason }, () => {
  before(async () => {
    RQ = rq;
    server = await startRedis();
    redis = connect(server.url);
    cwd = tempDir('pyworker');
    writeFileSync(join(cwd, 'tasks.ts'), TASKS);
  });

  after(async () => {
    for (const child of running) killGroup(child);
    for (const pid of horses) killHorse(pid);
    redis?.disconnect();
    await server?.stop();
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  it('runs jobs python-rq enqueued (JSONSerializer); Python reads the results, failures and registries', async () => {
    const ids = py<{ ok: string; bad: string }>(`
q = Queue('pyq', connection=r, serializer=JSONSerializer)
ok = q.enqueue('tasks.add', 2, 3)
bad = q.enqueue('tasks.boom')
out(dict(ok=ok.id, bad=bad.id))
`);
    const w = spawnWorker(['-b', 'pyq']);
    const exit = await waitExit(w, 30_000);
    assert.equal(exit.code, 0, w.output());

    const seen = py<Record<string, unknown>>(
      `
ok = fetch(V['ok'])
bad = fetch(V['bad'])
okr = ok.latest_result()
badr = bad.latest_result()
out(dict(
    ok_status=ok.get_status(), ok_result=ok.result, ok_return_value=ok.return_value(),
    ok_latest_type=int(okr.type.value) if okr else None, ok_latest_rv=okr.return_value if okr else None,
    ok_worker=ok.worker_name, ok_finished=ok.id in FinishedJobRegistry('pyq', connection=r, serializer=JSONSerializer).get_job_ids(),
    bad_status=bad.get_status(), bad_exc_info=bad.exc_info,
    bad_latest_type=int(badr.type.value) if badr else None, bad_latest_exc=badr.exc_string if badr else None,
    bad_failed=bad.id in FailedJobRegistry('pyq', connection=r, serializer=JSONSerializer).get_job_ids(),
    queue_count=Queue('pyq', connection=r, serializer=JSONSerializer).count,
))
`,
      ids,
    );
    assert.equal(seen.ok_status, 'finished', w.output());
    assert.equal(seen.ok_result, 5);
    assert.equal(seen.ok_return_value, 5);
    assert.equal(seen.ok_latest_type, 1, 'Result.Type.SUCCESSFUL');
    assert.equal(seen.ok_latest_rv, 5);
    assert.equal(seen.ok_worker, w.name);
    assert.equal(seen.ok_finished, true, "in Python's FinishedJobRegistry");

    assert.equal(seen.bad_status, 'failed');
    assert.equal(seen.bad_latest_type, 2, 'Result.Type.FAILED');
    const exc = String(seen.bad_exc_info);
    assert.match(exc, /TypeError: kaboom from tasks\.ts/);
    assert.match(exc, /at boom \(.*tasks\.ts/, 'our stack text, with the frame of the task');
    assert.equal(seen.bad_latest_exc, seen.bad_exc_info);
    assert.equal(seen.bad_failed, true, "in Python's FailedJobRegistry");
    assert.equal(seen.queue_count, 0);
  });

  it("runs python-rq 2.x's Repeat and Retry jobs as its own worker does: repeats, retries, result entries, unknown fields", { skip: rq.label === '1.13' ? 'Repeat and result worker names are python-rq 2.x' : false }, async () => {
    // The same dotted paths for python-rq's own worker, to compare its outcome with ours.
    writeFileSync(join(cwd, 'tasks.py'), "def add(a, b):\n    return a + b\n\ndef boom():\n    raise TypeError('kaboom from tasks.py')\n");
    const enqueue = (q: string): Record<string, string> =>
      py(
        `
from rq import Repeat, Retry
q = Queue(V, connection=r, serializer=JSONSerializer)
rep = q.enqueue('tasks.add', 1, 2, repeat=Repeat(times=2))
ret = q.enqueue('tasks.boom', retry=Retry(max=2))
extra = q.enqueue('tasks.add', 2, 2)
# fields of a later rq: the job runs and they stay as they were
r.hset(extra.key, mapping={'x_future_field': 'kept \u2713', 'x_other': '{"a": [1]}'})
out(dict(rep=rep.id, ret=ret.id, extra=extra.id))
`,
        q,
      );
    const view = (q: string, ids: Record<string, string>, worker: string): Record<string, unknown> =>
      py(
        `
def results(job):
    res = []
    for x in reversed(job.results()):
        assert x.execution_started_at is None or x.execution_ended_at >= x.execution_started_at, (x.execution_started_at, x.execution_ended_at)
        res.append(dict(type=int(x.type.value), rv=x.return_value, by_worker=x.worker_name == V['worker'],
                        timed=x.execution_started_at is not None and x.execution_ended_at is not None,
                        exc=[l.strip() for l in (x.exc_string or '').splitlines() if l.startswith('TypeError: kaboom')][:1]))
    return res
def view(job_id):
    job = fetch(job_id)
    return dict(status=job.get_status(), repeats_left=job.repeats_left, repeat_intervals=job.repeat_intervals,
                retries_left=job.retries_left, number_of_retries=job.number_of_retries, results=results(job),
                finished=job.id in FinishedJobRegistry(V['q'], connection=r).get_job_ids(),
                failed=job.id in FailedJobRegistry(V['q'], connection=r).get_job_ids())
extra = r.hgetall('rq:job:' + V['ids']['extra'])
out(dict(rep=view(V['ids']['rep']), ret=view(V['ids']['ret']), extra=view(V['ids']['extra']),
         extra_fields=[extra[b'x_future_field'].decode(), extra[b'x_other'].decode()],
         queued=Queue(V['q'], connection=r).count))
`,
        { q, ids, worker },
      );

    const theirIds = enqueue('rep-py');
    const py2 = rqCli(['worker', '-u', server.url, '-b', '-S', 'rq.serializers.JSONSerializer', '-n', 'py-repeat', 'rep-py']);
    assert.equal(py2.status, 0, py2.stderr);
    const theirs = view('rep-py', theirIds, 'py-repeat');

    const ourIds = enqueue('rep-ts');
    const w = spawnWorker(['-b', 'rep-ts']);
    const exit = await waitExit(w, 30_000);
    assert.equal(exit.code, 0, w.output());
    const ours = view('rep-ts', ourIds, w.name);

    // What python-rq 2.10's worker leaves, spelled out (so that the comparison below cannot pass on nothing).
    assert.deepEqual(theirs.rep, {
      status: 'finished', repeats_left: 0, repeat_intervals: [0], retries_left: null, number_of_retries: null,
      results: [1, 2, 3].map(() => ({ type: 1, rv: 3, by_worker: true, timed: true, exc: [] })), finished: true, failed: false,
    });
    // rq 2.10 increments number_of_retries only for a job that returns Retry; a Retry(max=...) job that raises keeps None.
    assert.deepEqual(theirs.ret, {
      status: 'failed', repeats_left: null, repeat_intervals: null, retries_left: 0, number_of_retries: null,
      results: [{ type: 2, rv: null, by_worker: true, timed: true, exc: ['TypeError: kaboom from tasks.py'] }], finished: false, failed: true,
    });
    const ourRet = ours.ret as { results: { exc: string[] }[] };
    assert.deepEqual(ourRet.results[0]?.exc, ['TypeError: kaboom from tasks.ts'], 'our exception, our stack');
    ourRet.results[0]!.exc = ['TypeError: kaboom from tasks.py'];
    assert.deepEqual(ours, theirs, `ours (actual) and python-rq 2.10's worker (expected); our worker's output:\n${w.output()}`);
    assert.deepEqual(ours.extra_fields, ['kept \u2713', '{"a": [1]}']);
  });

  it("is listed by python-rq's Worker.all and `rq info` while it runs", async () => {
    const q = 'wq';
    // `rq info` without queue arguments lists every queue in rq:queues: start from an empty db.
    await redis.flushdb();
    // A job first, so the queue is in rq:queues (as after any enqueue); the worker runs it.
    const { id } = py<{ id: string }>(`out(dict(id=Queue('${q}', connection=r, serializer=JSONSerializer).enqueue('tasks.add', 1, 1).id))`);
    const w = spawnWorker([q]);
    try {
      await waitFor(async () => (await redis.hget(`rq:job:${id}`, 'status')) === 'finished', `job ${id} to finish (output: ${w.output()})`, 20_000);
      await waitFor(async () => (await redis.hget(`rq:worker:${w.name}`, 'state')) === 'idle', 'the worker to be idle', 10_000);

      const workers = py<Record<string, unknown>[]>(`
ws = Worker.all(connection=r, serializer=JSONSerializer)
out([dict(
    name=w.name, key=w.key, state=w.get_state(), queues=w.queue_names(), pid=w.pid, hostname=w.hostname,
    ip_address=w.ip_address, birth=w.birth_date.isoformat() if w.birth_date else None,
    last_heartbeat=w.last_heartbeat.isoformat() if w.last_heartbeat else None,
    successful=w.successful_job_count, failed=w.failed_job_count, total_working_time=w.total_working_time,
    on_queue=[x.name for x in Worker.all(queue=Queue('${q}', connection=r), serializer=JSONSerializer)],
) for w in ws])
`);
      assert.equal(workers.length, 1, JSON.stringify(workers));
      const seen = workers[0]!;
      assert.equal(seen.name, w.name);
      assert.equal(seen.key, `rq:worker:${w.name}`);
      assert.equal(seen.state, 'idle');
      assert.deepEqual(seen.queues, [q]);
      assert.equal(seen.pid, w.pid);
      assert.ok(seen.hostname, 'hostname');
      assert.match(String(seen.ip_address), /^127\.0\.0\.1:\d+$/);
      assert.ok(seen.birth, 'birth parses as a datetime in Python');
      assert.ok(seen.last_heartbeat, 'last_heartbeat parses as a datetime in Python');
      assert.equal(seen.successful, 1);
      assert.equal(seen.failed, 0);
      assert.ok(typeof seen.total_working_time === 'number' && seen.total_working_time > 0);
      assert.deepEqual(seen.on_queue, [w.name]);

      const onlyWorkers = rqCli(['info', '-u', server.url, '-W']);
      assert.equal(onlyWorkers.status, 0, onlyWorkers.stderr);
      const line = onlyWorkers.stdout.split('\n').find((l) => l.startsWith(`${w.name} `));
      assert.ok(line, `a line for ${w.name} in:\n${onlyWorkers.stdout}`);
      // rq 2.x adds the worker's job counts to the line.
      const counts = RQ.label === '1.13' ? '' : '\\. jobs: 1 finished, 0 failed';
      assert.match(line, new RegExp(`^${w.name} \\(\\S+ 127\\.0\\.0\\.1:\\d+ ${w.pid}\\): idle ${q}${counts}$`));
      assert.match(onlyWorkers.stdout, /^1 workers, 1 queues$/m);

      // Two jobs we enqueue on a queue nobody listens on: `rq info` counts them.
      const later = new Queue('later', { connection: redis });
      await later.enqueue('tasks.add', 1, 2);
      await later.enqueue('tasks.add', 3, 4);
      const queues = rqCli(['info', '-u', server.url, '-Q']);
      assert.equal(queues.status, 0, queues.stderr);
      // rq 2.x adds the registries' counts to the line.
      assert.match(queues.stdout, RQ.label === '1.13' ? /^later\s+\|\S*\s+2$/m : /^later\s+\|\S*\s+2, 0 executing, 0 finished, 0 failed$/m, queues.stdout);
      assert.match(queues.stdout, RQ.label === '1.13' ? /^wq\s+\|\s+0$/m : /^wq\s+\|\s+0, 0 executing, 1 finished, 0 failed$/m, queues.stdout);
      assert.match(queues.stdout, /^2 queues, 2 jobs total$/m);

      const both = rqCli(['info', '-u', server.url]);
      assert.equal(both.status, 0, both.stderr);
      assert.match(both.stdout, new RegExp(`^${w.name} \\(.*\\): idle ${q}${counts}$`, 'm'));
      assert.match(both.stdout, /^1 workers, 2 queues$/m);
    } finally {
      process.kill(w.pid, 'SIGTERM');
      const exit = await waitExit(w, 10_000);
      assert.equal(exit.code, 0, w.output());
    }
    // Gone from Python's view after its death.
    const left = py<unknown[]>(`out([w.name for w in Worker.all(connection=r, serializer=JSONSerializer)])`);
    assert.deepEqual(left, []);
  });

  it("python-rq's StartedJobRegistry.cleanup fails the job of our SIGKILLed worker as its own", async () => {
    const q = 'deadq';
    const job = await new Queue(q, { connection: redis }).enqueue('tasks.sleepForever');
    const w = spawnWorker([q]);
    await waitFor(
      async () => (await redis.hget(job.key, 'status')) === 'started' && (await redis.hget(`rq:worker:${w.name}`, 'current_job')) === job.id,
      `job ${job.id} to start (output: ${w.output()})`,
      20_000,
    );
    const horse = await waitFor(() => {
      const r = spawnSync('ps', ['-o', 'pid=', '--ppid', String(w.pid)], { encoding: 'utf8', timeout: 5000 });
      return Number.parseInt((r.stdout ?? '').trim(), 10) || 0;
    }, 'the horse pid');
    horses.add(horse);
    process.kill(w.pid, 'SIGKILL');
    const exit = await waitExit(w, 10_000);
    assert.equal(exit.signal, 'SIGKILL');
    await waitFor(() => !alive(horse), 'the orphaned horse to exit', 10_000);
    assert.ok((await redis.zscore(`rq:wip:${q}`, job.id)) !== null, 'left in the StartedJobRegistry');

    // Its heartbeats stopped long ago: the entry's score is in the past.
    await redis.zadd(`rq:wip:${q}`, epochSeconds() - 10, job.id);
    const seen = py<Record<string, unknown>>(
      `
StartedJobRegistry('${q}', connection=r, serializer=JSONSerializer).cleanup()
job = fetch(V['id'])
out(dict(
    status=job.get_status(),
    failed=job.id in FailedJobRegistry('${q}', connection=r, serializer=JSONSerializer).get_job_ids(),
    started=r.zscore('rq:wip:${q}', job.id),
    exc_info=job.exc_info,
))
`,
      { id: job.id },
    );
    assert.equal(seen.status, 'failed');
    assert.equal(seen.failed, true, "in Python's FailedJobRegistry");
    assert.equal(seen.started, null, 'out of the StartedJobRegistry');
    assert.match(String(seen.exc_info), RQ.label === '1.13' ? /^Moved to FailedJobRegistry at / : /^Moved to FailedJobRegistry, due to AbandonedJobError, at /);
    // And we read Python's verdict the same way.
    const ours = await Job.fetch(job.id, { connection: redis });
    assert.equal(ours.status, 'failed');
  });

  it("python-rq's worker runs a job our Queue enqueued; we read its result", async () => {
    const q = 'pq';
    const job = await new Queue(q, { connection: redis }).enqueue('operator.add', 2, 3);
    const r = rqCli(['worker', '-u', server.url, '-b', '-S', 'rq.serializers.JSONSerializer', q]);
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const done = await Job.fetch(job.id, { connection: redis });
    assert.equal(done.status, 'finished', r.stderr);
    assert.equal(await done.returnValue(), 5);
    assert.equal((await done.latestResult())?.isSuccessful, true);
  });
});
