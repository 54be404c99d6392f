/**
 * Results and events across languages (issue 17): job.waitForResult and QueueEvents settle for jobs
 * run by python-rq 1.13's worker (Debian's python3-rq), and job.updateProgress writes a meta that
 * python-rq reads as job.meta['progress'].
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { JobFailedError, Queue, SimpleWorker, type CompletedEvent, type FailedEvent, type ProgressEvent } from '../../lib/index.js';
import { PYTHON_RQS, RQ_1, pythonEnv, runPython, type PythonRq } from '../helpers/python.js';
import { startRedis, waitFor, type RedisServer } from '../helpers/redis.js';
import { collectingLogger, repoRoot, task } from '../helpers/worker.js';

const PYTASKS = `
import time
from rq import get_current_job

def add(a, b):
    return a + b

def fail():
    raise ZeroDivisionError('python says no')

def progress(gate):
    job = get_current_job()
    job.meta['progress'] = 50
    job.save_meta()
    deadline = time.time() + 20
    while job.connection.get(gate) is None:
        if time.time() > deadline:
            raise RuntimeError('gate never opened')
        time.sleep(0.01)
    return 'done'
`;

let server: RedisServer;
let redis: Redis;
let cwd = '';
const running = new Set<ChildProcess>();

/** python-rq's own worker in burst mode on `queue`, with rq's JSON serializer; resolves with its exit code and output. */
function pythonWorker(queue: string): Promise<{ code: number | null; output: string }> {
  const child = spawn(RQ.python!, ['-m', 'rq.cli', 'worker', '-u', server.url, '-b', '-S', 'rq.serializers.JSONSerializer', queue], { cwd, env: pythonEnv(RQ), stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return new Promise((resolve) => {
    child.once('close', (code) => {
      running.delete(child);
      resolve({ code, output });
    });
  });
}

/** The python-rq the running suite is parametrized with (suites in a file run one after another). */
let RQ: PythonRq = RQ_1;

for (const rq of PYTHON_RQS) describe(`results and events with python-rq ${rq.label}`, { skip: rq.python ? false : rq.reason }, () => {
  before(async () => {
    RQ = rq;
    server = await startRedis();
    redis = server.client();
    cwd = mkdtempSync(join(tmpdir(), 'rq-ts-py-results-'));
    writeFileSync(join(cwd, 'pytasks.py'), PYTASKS);
  });

  after(async () => {
    for (const child of running) child.kill('SIGKILL');
    await server?.stop();
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  it("waitForResult settles with the outcome python-rq's worker writes", async () => {
    const q = new Queue('py-wait', { connection: redis });
    const ok = await q.enqueue('pytasks.add', 2, 3);
    const bad = await q.enqueue('pytasks.fail');
    const sum = ok.waitForResult({ timeout: 60 });
    const failure = bad.waitForResult({ timeout: 60 }).then(
      () => assert.fail('resolved'),
      (e: unknown) => e,
    );
    const worker = await pythonWorker('py-wait');
    assert.equal(worker.code, 0, worker.output);
    assert.equal(await sum, 5);
    const err = await failure;
    assert.ok(err instanceof JobFailedError, String(err));
    assert.match(err.excString ?? '', /^Traceback \(most recent call last\)/);
    assert.equal(err.message, `Job ${bad.id} failed: ZeroDivisionError: python says no`);
  });

  it("QueueEvents reports progress, completed and failed of python-rq's jobs", async () => {
    const q = new Queue('py-events', { connection: redis });
    const events = q.events({ interval: 50 });
    const seen = { completed: [] as CompletedEvent[], failed: [] as FailedEvent[], progress: [] as ProgressEvent[] };
    events.on('completed', (e) => seen.completed.push(e));
    events.on('failed', (e) => seen.failed.push(e));
    events.on('progress', (e) => seen.progress.push(e));
    try {
      await events.ready;
      const slow = await q.enqueue('pytasks.progress', 'py-gate');
      const bad = await q.enqueue('pytasks.fail');
      const worker = pythonWorker('py-events');
      await waitFor(() => seen.progress.length > 0, 'a progress event from the Python job', 30_000);
      assert.deepEqual(seen.progress, [{ jobId: slow.id, progress: 50 }]);
      await redis.set('py-gate', '1');
      const exit = await worker;
      assert.equal(exit.code, 0, exit.output);
      await waitFor(() => seen.completed.length > 0 && seen.failed.length > 0, 'completed and failed events', 10_000);
      assert.deepEqual(seen.completed, [{ jobId: slow.id, returnValue: 'done' }]);
      assert.equal(seen.failed.length, 1);
      assert.equal(seen.failed[0]!.jobId, bad.id);
      assert.match(seen.failed[0]!.excString ?? '', /ZeroDivisionError: python says no/);
    } finally {
      await events.close();
    }
  });

  it("updateProgress from a job run by rq-ts is python-rq's job.meta['progress']", async () => {
    const q = new Queue('ts-progress', { connection: redis });
    await redis.set('ts-gate', '10');
    const job = await q.enqueue(task('progressSteps'), 'ts-gate', 3);
    await new SimpleWorker(['ts-progress'], { connection: redis, installSignalHandlers: false, paths: [repoRoot], logger: collectingLogger() }).work({ burst: true });
    assert.equal(await job.waitForResult({ timeout: 10 }), 3);
    const out = runPython(
      `
import os, json, sys
from redis import Redis
from rq.job import Job
from rq.serializers import JSONSerializer
job = Job.fetch(${JSON.stringify(job.id)}, connection=Redis(port=int(os.environ['REDIS_PORT'])), serializer=JSONSerializer)
sys.stdout.write(json.dumps(job.meta))
`,
      { REDIS_PORT: String(server.port) },
      undefined,
      RQ,
    );
    assert.deepEqual(JSON.parse(out), { progress: 3 });
  });
});
