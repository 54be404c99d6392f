/**
 * The commands against python-rq 1.13 (Debian's python3-rq) on one throwaway redis-server: our
 * `rq info` lists a running Python worker exactly as Python's does, both `rq info`s agree on counts,
 * each side's `rq requeue` requeues jobs the other side's worker failed, `rq enqueue` argument
 * parsing (Python literals included) and --schedule-at match Python's, and suspension is shared.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { connect, Queue } from '../../lib/index.js';
import { JOBS_TS, Projects, cleanEnv, describeRun, linesOf, runRq } from '../helpers/cli.js';
import { PYTHON, PYTHON_REASON } from '../helpers/python.js';
import { startRedis, waitFor, type RedisServer } from '../helpers/redis.js';
import { status } from '../helpers/worker.js';

let server: RedisServer;
const projects = new Projects();
const clients: Redis[] = [];
const pythonWorkers = new Set<ChildProcess>();
let lastDb = 0;

const PYJOBS = `
def boom(message='py boom'):
    raise ValueError(message)

def add(a, b):
    return a + b
`;

before(async () => {
  if (!PYTHON) return;
  server = await startRedis(['--databases', '64']);
});
after(async () => {
  for (const p of pythonWorkers) p.kill('SIGKILL');
  for (const c of clients) c.disconnect();
  projects.cleanup();
  await server?.stop();
});

function freshDb(): { url: string; redis: Redis; queue: (name?: string) => Queue } {
  const db = ++lastDb;
  const url = `${server.url}/${db}`;
  const redis = connect(url);
  clients.push(redis);
  return { url, redis, queue: (name = 'default') => new Queue(name, { connection: redis }) };
}

function project(): string {
  return projects.make({ 'jobs.ts': JOBS_TS, 'pyjobs.py': PYJOBS });
}

function rq(args: string[], cwd = project(), env: Record<string, string> = {}) {
  return runRq(args, { cwd, env: { COLUMNS: '80', ...env }, timeoutMs: 30_000 });
}

/** `python3 -m rq.cli <args>`, bounded, with the same clean environment as our binary gets. */
function pyRq(args: string[], cwd = project(), env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(PYTHON!, ['-m', 'rq.cli', ...args], {
    cwd,
    encoding: 'utf8',
    timeout: 60_000,
    killSignal: 'SIGKILL',
    env: cleanEnv({ COLUMNS: '80', ...env }),
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a Python snippet against the test's database; `r` is a redis client on it. Prints JSON back. */
function py(url: string, code: string): unknown {
  const prelude = `
import json, sys, warnings
warnings.simplefilter('ignore')
from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer
from rq.suspension import is_suspended
r = Redis.from_url(${JSON.stringify(url)})
def out(x):
    sys.stdout.write(json.dumps(x))
`;
  const res = spawnSync(PYTHON!, ['-c', `${prelude}\n${code}`], { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL', env: cleanEnv() });
  if (res.status !== 0) throw new Error(`python failed (${res.status}): ${res.stderr}`);
  return JSON.parse(res.stdout);
}

/** A Python worker (`rq worker -S JSONSerializer`) left running until killed. */
async function startPythonWorker(url: string, redis: Redis, name: string, queues: string[]): Promise<ChildProcess> {
  const child = spawn(PYTHON!, ['-m', 'rq.cli', 'worker', '-u', url, '-S', 'rq.serializers.JSONSerializer', '-n', name, ...queues], {
    cwd: project(),
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  pythonWorkers.add(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  try {
    await waitFor(async () => (await redis.hget(`rq:worker:${name}`, 'state')) === 'idle', `Python worker ${name} to wait for jobs`, 30_000);
  } catch (err) {
    throw new Error(`${(err as Error).message}; its output:\n${output}`);
  }
  return child;
}

async function stopPythonWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
  pythonWorkers.delete(child);
}

function enqueuedId(stdout: string): string {
  const m = /with job-id '([^']+)'\.\n$/.exec(stdout);
  assert.ok(m, `no "Enqueued ... with job-id" line in ${JSON.stringify(stdout)}`);
  return m[1]!;
}

describe('commands with python-rq', { concurrency: 3, skip: PYTHON ? false : PYTHON_REASON }, () => {
  it('our rq info lists a running Python worker, with the very line Python\'s rq info prints', async () => {
    const { url, redis } = freshDb();
    const child = await startPythonWorker(url, redis, 'pyworker', ['pyq', 'other']);
    try {
      const ours = await rq(['info', '-u', url, '-W']);
      assert.equal(ours.code, 0, describeRun(ours));
      const hostname = await redis.hget('rq:worker:pyworker', 'hostname');
      const ip = await redis.hget('rq:worker:pyworker', 'ip_address');
      const line = `pyworker (${hostname} ${ip} ${child.pid}): idle pyq, other`;
      assert.deepEqual(linesOf(ours.stdout), [line, '1 workers, 0 queues']);
      const theirs = pyRq(['info', '-u', url, '-W']);
      assert.equal(theirs.code, 0, theirs.stderr);
      assert.deepEqual(linesOf(theirs.stdout), linesOf(ours.stdout));
      // With its queue known, it is found through rq:workers:pyq, also by queue (-R).
      assert.equal((await rq(['enqueue', '-u', url, '-q', 'nobody', 'jobs.add', ':1', ':1'])).code, 0);
      const byQueue = await rq(['info', '-u', url, '-R', '-W', 'pyq', 'nobody']);
      assert.deepEqual(linesOf(byQueue.stdout), ['pyq:    pyworker (idle)', 'nobody: –', '1 workers, 2 queues']);
    } finally {
      await stopPythonWorker(child);
    }
    const gone = await rq(['info', '-u', url, '-W', 'pyq']);
    assert.deepEqual(linesOf(gone.stdout), ['0 workers, 1 queues'], 'a stopped Python worker is gone');
  });

  it('python3 -m rq.cli info shows the same queues, bars and counts as ours for jobs we enqueued', async () => {
    const { url, queue } = freshDb();
    const cwd = project();
    for (const [q, n] of [['alpha', 3], ['beta', 1]] as const) {
      for (let i = 0; i < n; i++) assert.equal((await rq(['enqueue', '-u', url, '-q', q, '--quiet', 'jobs.add', `:${i}`, ':1'], cwd)).code, 0);
    }
    await queue('gamma').enqueueMany(Array.from({ length: 25 }, (_, i) => ({ func: 'jobs.add', args: [i, 1] })));
    for (const flags of [['-Q'], ['-Q', '-r'], ['-W'], ['-R']]) {
      const ours = await rq(['info', '-u', url, ...flags], cwd);
      const theirs = pyRq(['info', '-u', url, ...flags], cwd);
      assert.equal(ours.code, 0, describeRun(ours));
      assert.equal(theirs.code, 0, theirs.stderr);
      const strip = (out: string): string[] => linesOf(out).filter((l) => !l.startsWith('Updated: ')).sort();
      assert.deepEqual(strip(ours.stdout), strip(theirs.stdout), `rq info ${flags.join(' ')}`);
    }
    const ours = await rq(['info', '-u', url, '-Q'], cwd);
    assert.ok(linesOf(ours.stdout).includes('3 queues, 29 jobs total'), ours.stdout);
    assert.ok(linesOf(ours.stdout).includes(`gamma        |${'█'.repeat(10)} 25`), ours.stdout);
  });

  it('our rq requeue requeues a job that a Python worker failed; Python sees it queued again', async () => {
    const { url, redis } = freshDb();
    const cwd = project();
    const e = await rq(['enqueue', '-u', url, '-q', 'pyq', 'pyjobs.boom', 'first'], cwd);
    const id = enqueuedId(e.stdout);
    const w = pyRq(['worker', '-b', '-u', url, '-S', 'rq.serializers.JSONSerializer', 'pyq'], cwd);
    assert.equal(w.code, 0, w.stderr);
    assert.equal(await status(redis, id), 'failed', w.stderr);
    const r = await rq(['requeue', '-u', url, '--queue', 'pyq', id], cwd);
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(r.stdout, 'Requeueing 1 jobs from failed queue\n');
    const seen = py(
      url,
      `q = Queue('pyq', connection=r, serializer=JSONSerializer)
job = Job.fetch(${JSON.stringify(id)}, connection=r, serializer=JSONSerializer)
out({'status': job.get_status(), 'ids': q.job_ids, 'failed': FailedJobRegistry('pyq', connection=r).count, 'args': job.args})`,
    );
    assert.deepEqual(seen, { status: 'queued', ids: [id], failed: 0, args: ['first'] });
    // Python's worker takes the requeued job again (and fails it again).
    const again = pyRq(['worker', '-b', '-u', url, '-S', 'rq.serializers.JSONSerializer', 'pyq'], cwd);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(await status(redis, id), 'failed');
    assert.equal(await redis.xlen(`rq:results:${id}`), 2);
  });

  it('Python\'s rq requeue requeues a job that our worker failed; our worker runs it again', async () => {
    const { url, redis } = freshDb();
    const cwd = project();
    const e = await rq(['enqueue', '-u', url, '-q', 'tsq', 'jobs.boom', 'ours'], cwd);
    const id = enqueuedId(e.stdout);
    assert.equal((await rq(['worker', '-b', '-u', url, 'tsq'], cwd)).code, 0);
    assert.equal(await status(redis, id), 'failed');
    const r = pyRq(['requeue', '-u', url, '-S', 'rq.serializers.JSONSerializer', '--queue', 'tsq', id], cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Requeueing 1 jobs from failed queue\n/);
    assert.equal(await status(redis, id), 'queued');
    assert.deepEqual(await redis.lrange('rq:queue:tsq', 0, -1), [id]);
    assert.equal(await redis.zcard('rq:failed:tsq'), 0);
    const w = await rq(['worker', '-b', '-u', url, 'tsq'], cwd);
    assert.equal(w.code, 0, describeRun(w));
    assert.equal(await status(redis, id), 'failed');
    assert.equal(await redis.xlen(`rq:results:${id}`), 2, 'our worker ran it a second time');
  });

  it('rq enqueue prints what Python\'s rq enqueue prints and stores the same call', async () => {
    const { url } = freshDb();
    const cwd = project();
    const args = ['pyjobs.add', '1', ':2', 'k=v', 'j:={"a": [1, null, "x"]}', 'lit%=None', "s%='it\\'s'", "d%={'k': [True, False, -3]}"];
    const ours = await rq(['enqueue', '-u', url, '--job-id', 'ours', ...args], cwd);
    const theirs = pyRq(['enqueue', '-u', url, '-S', 'rq.serializers.JSONSerializer', '--job-id', 'theirs', ...args], cwd);
    assert.equal(ours.code, 0, describeRun(ours));
    assert.equal(theirs.code, 0, theirs.stderr);
    assert.equal(ours.stdout.replace("'ours'", "'X'"), theirs.stdout.replace("'theirs'", "'X'"));
    const calls = py(
      url,
      `jobs = [Job.fetch(i, connection=r, serializer=JSONSerializer) for i in ('ours', 'theirs')]
out([[j.func_name, j.args, j.kwargs, j.description] for j in jobs])`,
    ) as unknown[][];
    assert.deepEqual(calls[0], calls[1]);
  });

  it('Python literals (%...) parse to what ast.literal_eval gives, as a Python worker reads them', async () => {
    const { url } = freshDb();
    const literals = [
      'None', 'True', '-7', '+3', '1_000_000', '0x1f', '0o17', '0b101', '2.5', '-1.5e-7', '.5', "'single'", '"double"',
      "'esc\\n\\t\\x41\\u00e9\\U0001F600\\101'", "r'raw\\d'", "'''tri\nple'''", "'con' \"cat\"", '[1, [2, [3]],]', '(1, 2)', '(1,)', '()',
      "{'a': {'b': None}, 'c': ()}", "{1: 'int key', None: 'none key', False: 'bool key'}", '[\n  1,  # comment\n  2\n]',
    ];
    const ours = await rq(['enqueue', '-u', url, '--job-id', 'lits', 'pyjobs.add', ...literals.map((l) => `%${l}`)]);
    assert.equal(ours.code, 0, describeRun(ours));
    const check = py(
      url,
      `import ast
literals = json.loads(${JSON.stringify(JSON.stringify(literals))})
expected = json.loads(json.dumps([ast.literal_eval(x) for x in literals]))
job = Job.fetch('lits', connection=r, serializer=JSONSerializer)
out({'equal': job.args == expected, 'got': job.args, 'expected': expected})`,
    ) as { equal: boolean; got: unknown; expected: unknown };
    assert.ok(check.equal, JSON.stringify(check));
  });

  it('--schedule-at: the same ScheduledJobRegistry score as Python\'s for the same naive local time', async () => {
    const { url, redis } = freshDb();
    const env = { TZ: 'America/New_York' };
    const ours = await rq(['enqueue', '-u', url, '--job-id', 'ours', '--schedule-at', '2031-07-04T09:30:00', 'pyjobs.add', ':1', ':2'], project(), env);
    const theirs = pyRq(['enqueue', '-u', url, '-S', 'rq.serializers.JSONSerializer', '--job-id', 'theirs', '--schedule-at', '2031-07-04T09:30:00', 'pyjobs.add', ':1', ':2'], project(), env);
    assert.equal(ours.code, 0, describeRun(ours));
    assert.equal(theirs.code, 0, theirs.stderr);
    const [a, b] = await Promise.all([redis.zscore('rq:scheduled:default', 'ours'), redis.zscore('rq:scheduled:default', 'theirs')]);
    assert.ok(a !== null && a === b, `ours ${a}, Python's ${b}`);
    assert.equal(await redis.hget('rq:job:ours', 'status'), await redis.hget('rq:job:theirs', 'status'));
  });

  it('suspension is shared: our suspend is seen by Python, Python\'s resume by us, Python\'s suspend stops our worker', async () => {
    const { url, redis, queue } = freshDb();
    assert.equal((await rq(['suspend', '-u', url, '--duration', '60'])).code, 0);
    assert.equal(py(url, 'out(bool(is_suspended(r)))'), true);
    assert.equal(pyRq(['resume', '-u', url]).code, 0);
    assert.equal(await redis.exists('rq:suspended'), 0);
    assert.equal(pyRq(['suspend', '-u', url]).code, 0);
    const job = await queue().enqueue('jobs.add', 1, 1);
    const w = await rq(['worker', '-b', '-u', url]);
    assert.equal(w.code, 1, describeRun(w));
    assert.equal(await status(redis, job.id), 'queued');
    const r = await rq(['resume', '-u', url]);
    assert.equal(r.code, 0);
    assert.equal(py(url, 'out(bool(is_suspended(r)))'), false);
  });

  it('our rq empty removes jobs Python enqueued (and their hashes)', async () => {
    const { url, redis } = freshDb();
    for (let i = 0; i < 3; i++) assert.equal(pyRq(['enqueue', '-u', url, '-S', 'rq.serializers.JSONSerializer', '-q', 'pyq', 'pyjobs.add', `:${i}`, ':1']).code, 0);
    const ids = await redis.lrange('rq:queue:pyq', 0, -1);
    assert.equal(ids.length, 3);
    const r = await rq(['empty', '-u', url, 'pyq']);
    assert.equal(r.stdout, '3 jobs removed from pyq queue\n');
    for (const id of ids) assert.equal(await redis.exists(`rq:job:${id}`), 0);
    assert.equal(pyRq(['empty', '-u', url, 'pyq']).stdout, '0 jobs removed from pyq queue\n');
  });
});
