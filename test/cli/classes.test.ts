/**
 * Custom classes named on the command line or in the config (seed points 14-16): worker, job, queue,
 * connection and death-penalty classes, resolved from dotted paths in a temp project by the real binary.
 * The project's module imports rq-ts by the absolute path of its built entry point, as an installed
 * `rq-ts` package would resolve, so its classes are the ones the binary checks against.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JOBS_TS, describeRun, distIndex, ioredisEntry, linesOf, runRq, useCliRedis } from '../helpers/cli.js';
import { excText, returnValue, status } from '../helpers/worker.js';

const { projects, freshDb } = useCliRedis();

/** Custom classes, each leaving a trace on stderr with the pid of the process that used it. */
const MYMOD_TS = `
import { BaseDeathPenalty, Job, Queue, Worker } from ${JSON.stringify(distIndex)};
import { Redis } from ${JSON.stringify(ioredisEntry)};

export class MyWorker extends Worker {
  override applyPlugins(): void {
    super.applyPlugins();
    process.stderr.write(\`MyWorker in use: role=\${this.role} loop=\${this.horseLoop} pid=\${process.pid}\\n\`);
  }
}

export class MyJob extends Job {
  static override fromHash(...args: Parameters<typeof Job.fromHash>): any {
    process.stderr.write(\`MyJob.fromHash \${args[0]} pid=\${process.pid}\\n\`);
    return super.fromHash(...args);
  }
}

export class MyQueue extends Queue {
  static override jobClass = MyJob;
}

export class TracingRedis extends Redis {
  readonly traced = process.pid;
  constructor(...args: any[]) {
    super(...(args as []));
    process.stderr.write(\`TracingRedis constructed pid=\${process.pid}\\n\`);
  }
}

/** An app-specific kill: the same timer, its own message. */
export class CleanPenalty extends BaseDeathPenalty {
  run<T>(call: () => T | Promise<T>, stop: (reason: Error) => void): Promise<T> {
    process.stderr.write(\`CleanPenalty timeout=\${this.timeout} job=\${this.options.jobId}\\n\`);
    if (!this.hasLimit) return Promise.resolve().then(call);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        const err = new this.exception(\`CleanPenalty stopped job \${this.options.jobId} after \${this.timeout} s\`);
        stop(err);
        reject(err);
      }, this.timeout * 1000);
      Promise.resolve().then(call).then(resolve, reject).finally(() => clearTimeout(timer));
    });
  }
}

export class NotAWorker {}
export function notAClass(): void {}
`;

const project = (extra: Record<string, string> = {}): string => projects.make({ 'jobs.ts': JOBS_TS, 'mymod.ts': MYMOD_TS, ...extra });

/** The pids printed after `marker pid=`. */
function pidsOf(output: string, marker: string): number[] {
  const re = new RegExp(`${marker.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*?pid=(\\d+)`, 'g');
  return [...output.matchAll(re)].map((m) => Number(m[1]));
}

describe('rq worker: custom classes from dotted paths', { concurrency: 4 }, () => {
  it('-w mymod.MyWorker is used by the worker and by its horse (taking its own jobs, or sent each one)', async () => {
    const { url, redis, queue } = freshDb();
    for (const [extra, loop] of [[[], true], [['--no-horse-loop'], false]] as const) {
      const job = await queue().enqueue('jobs.add', 2, 3);
      const r = await runRq(['worker', '-b', '-u', url, '-w', 'mymod.MyWorker', ...extra], { cwd: project() });
      assert.equal(r.code, 0, describeRun(r));
      assert.ok(r.output.includes(`MyWorker in use: role=worker loop=${loop} pid=${r.pid}`), describeRun(r));
      assert.ok(new RegExp(`MyWorker in use: role=horse loop=${loop} pid=\\d+`).test(r.output), describeRun(r));
      assert.equal(await returnValue(redis, job.id), 5);
    }
  });

  it('WORKER_CLASS in the config, and RQ_WORKER_CLASS in the environment', async () => {
    const { url } = freshDb();
    const viaConfig = await runRq(['worker', '-b', '-u', url, '-c', 'settings'], { cwd: project({ 'settings.ts': "export const WORKER_CLASS = 'mymod.MyWorker';\n" }) });
    assert.equal(viaConfig.code, 0, describeRun(viaConfig));
    assert.ok(viaConfig.output.includes(`MyWorker in use: role=worker loop=true pid=${viaConfig.pid}`), describeRun(viaConfig));
    const viaEnv = await runRq(['worker', '-b', '-u', url], { cwd: project(), env: { RQ_WORKER_CLASS: 'mymod.MyWorker' } });
    assert.equal(viaEnv.code, 0, describeRun(viaEnv));
    assert.ok(viaEnv.output.includes(`MyWorker in use: role=worker loop=true pid=${viaEnv.pid}`), describeRun(viaEnv));
  });

  it('-w rq.SimpleWorker runs the job in the worker process; --worker-class rq.Worker in a horse', async () => {
    const { url, redis, queue } = freshDb();
    const dir = project();
    const a = await queue().enqueue('jobs.pid');
    const simple = await runRq(['worker', '-b', '-u', url, '-w', 'rq.SimpleWorker'], { cwd: dir });
    assert.equal(simple.code, 0, describeRun(simple));
    assert.equal(await returnValue(redis, a.id), simple.pid);
    const b = await queue().enqueue('jobs.pid');
    const forked = await runRq(['worker', '-b', '-u', url, '--worker-class', 'rq.Worker'], { cwd: dir });
    assert.equal(forked.code, 0, describeRun(forked));
    const horsePid = await returnValue(redis, b.id);
    assert.equal(typeof horsePid, 'number');
    assert.notEqual(horsePid, forked.pid);
  });

  it('-j mymod.MyJob builds the jobs: in the horse that takes its own jobs; in the worker and the horse with --no-horse-loop', async () => {
    const { url, redis, queue } = freshDb();
    for (const loop of [true, false]) {
      const job = await queue().enqueue('jobs.add', 2, 3);
      const r = await runRq(['worker', '-b', '-u', url, '-j', 'mymod.MyJob', ...(loop ? [] : ['--no-horse-loop'])], { cwd: project() });
      assert.equal(r.code, 0, describeRun(r));
      const pids = pidsOf(r.output, `MyJob.fromHash ${job.id}`);
      assert.equal(pids.includes(r.pid), !loop, `MyJob in the worker only without the horse loop; ${describeRun(r)}`);
      assert.ok(pids.some((p) => p !== r.pid), `MyJob in the horse; ${describeRun(r)}`);
      assert.equal(await returnValue(redis, job.id), 5);
    }
  });

  it('--queue-class mymod.MyQueue: its static jobClass (MyJob) is the job class of the worker (seed 15)', async () => {
    const { url, redis, queue } = freshDb();
    const job = await queue().enqueue('jobs.add', 2, 3);
    const r = await runRq(['worker', '-b', '-u', url, '--queue-class', 'mymod.MyQueue', '--no-horse-loop'], { cwd: project() });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(await returnValue(redis, job.id), 5);
    assert.ok(pidsOf(r.output, `MyJob.fromHash ${job.id}`).includes(r.pid), `the worker should load jobs with MyQueue.jobClass; ${describeRun(r)}`);
    // A horse that takes its own jobs loads them with it too.
    const next = await queue().enqueue('jobs.add', 3, 4);
    const looping = await runRq(['worker', '-b', '-u', url, '--queue-class', 'mymod.MyQueue'], { cwd: project() });
    assert.equal(looping.code, 0, describeRun(looping));
    assert.equal(await returnValue(redis, next.id), 7);
    assert.ok(pidsOf(looping.output, `MyJob.fromHash ${next.id}`).some((p) => p !== looping.pid), describeRun(looping));
  });

  it('QUEUE_CLASS and JOB_CLASS config keys', async () => {
    const { url, queue } = freshDb();
    const job = await queue().enqueue('jobs.add', 2, 3);
    const r = await runRq(['worker', '-b', '-u', url, '-c', 'settings'], {
      cwd: project({ 'settings.ts': "export const QUEUE_CLASS = 'mymod.MyQueue';\nexport const JOB_CLASS = 'mymod.MyJob';\n" }),
    });
    assert.equal(r.code, 0, describeRun(r));
    // Loaded by the horse, which takes its own jobs.
    assert.ok(pidsOf(r.output, `MyJob.fromHash ${job.id}`).some((p) => p !== r.pid), describeRun(r));
  });

  it('DEATH_PENALTY_CLASS from the config enforces the timeout with its own kill', async () => {
    const { url, redis, queue } = freshDb();
    const job = await queue().enqueueCall({ func: 'jobs.hold', args: ['never-released'], timeout: 1 });
    const r = await runRq(['worker', '-b', '-u', url, '-c', 'settings'], { cwd: project({ 'settings.ts': "export const DEATH_PENALTY_CLASS = 'mymod.CleanPenalty';\n" }) });
    assert.equal(r.code, 0, describeRun(r));
    assert.ok(r.output.includes(`CleanPenalty timeout=1 job=${job.id}`), describeRun(r));
    assert.equal(await status(redis, job.id), 'failed');
    assert.match(await excText(redis, job.id), new RegExp(`CleanPenalty stopped job ${job.id} after 1 s`));
  });

  it('DEATH_PENALTY_CLASS rq.timeouts.UnixSignalDeathPenalty (rq\'s name) is accepted', async () => {
    const { url, redis, queue } = freshDb();
    const job = await queue().enqueueCall({ func: 'jobs.hold', args: ['never'], timeout: 1 });
    const r = await runRq(['worker', '-b', '-u', url, '-c', 'settings'], { cwd: project({ 'settings.ts': "export const DEATH_PENALTY_CLASS = 'rq.timeouts.UnixSignalDeathPenalty';\n" }) });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(await status(redis, job.id), 'failed');
    assert.match(await excText(redis, job.id), /Task exceeded maximum timeout value \(1 seconds\)/);
  });

  it('--connection-class mymod.TracingRedis (an ioredis subclass) is constructed by the worker', async () => {
    const { url, redis, queue } = freshDb();
    const job = await queue().enqueue('jobs.add', 2, 3);
    const r = await runRq(['worker', '-b', '-u', url, '--connection-class', 'mymod.TracingRedis'], { cwd: project() });
    assert.equal(r.code, 0, describeRun(r));
    assert.ok(pidsOf(r.output, 'TracingRedis constructed').includes(r.pid), describeRun(r));
    assert.equal(await returnValue(redis, job.id), 5);
  });

  it('CONNECTION_CLASS in the config; rq\'s name redis.Redis is the plain client', async () => {
    const { url } = freshDb();
    const custom = await runRq(['worker', '-b', '-u', url, '-c', 'settings'], { cwd: project({ 'settings.ts': "export const CONNECTION_CLASS = 'mymod.TracingRedis';\n" }) });
    assert.equal(custom.code, 0, describeRun(custom));
    assert.ok(pidsOf(custom.output, 'TracingRedis constructed').includes(custom.pid), describeRun(custom));
    const plain = await runRq(['worker', '-b', '-u', url, '--connection-class', 'redis.Redis'], { cwd: project() });
    assert.equal(plain.code, 0, describeRun(plain));
    assert.ok(!plain.output.includes('TracingRedis'), describeRun(plain));
  });

  it("--connection-class: the job's connection in the horse is of that class too (as in rq's forked horse)", async () => {
    const { url, redis, queue } = freshDb();
    const job = await queue().enqueue('jobs.connectionTrace');
    const r = await runRq(['worker', '-b', '-u', url, '--connection-class', 'mymod.TracingRedis'], { cwd: project() });
    assert.equal(r.code, 0, describeRun(r));
    const traced = await returnValue(redis, job.id);
    assert.equal(typeof traced, 'number', `job.connection in the horse should be a TracingRedis (got traced = ${String(traced)})`);
    assert.notEqual(traced, r.pid, 'constructed in the horse');
  });

  it('a class that does not extend the expected base: exit 2, one line naming the flag and the class', async () => {
    const { url } = freshDb();
    const cases: [string, string, RegExp][] = [
      ['-w', 'mymod.NotAWorker', /--worker-class mymod\.NotAWorker: NotAWorker does not extend rq-ts's Worker/],
      ['--job-class', 'mymod.NotAWorker', /--job-class mymod\.NotAWorker: NotAWorker does not extend rq-ts's Job/],
      ['--queue-class', 'mymod.NotAWorker', /--queue-class mymod\.NotAWorker: NotAWorker does not extend rq-ts's Queue/],
      ['-w', 'mymod.notAClass', /"mymod\.notAClass" \(--worker-class\) is a function, but a class is needed/],
      ['--connection-class', 'mymod.notAClass', /"mymod\.notAClass" \(--connection-class\) is a function, but a class is needed/],
    ];
    await Promise.all(
      cases.map(async ([flag, path, message]) => {
        const r = await runRq(['worker', '-b', '-u', url, flag, path], { cwd: project() });
        assert.equal(r.code, 2, `${flag} ${path}: ${describeRun(r)}`);
        assert.equal(linesOf(r.stderr).length, 1, `${flag} ${path}: ${describeRun(r)}`);
        assert.match(r.stderr, message);
        assert.ok(!r.stderr.includes('    at '), 'no stack trace');
      }),
    );
  });
});
