/**
 * `rq worker` flags, through the real binary (node dist/lib/cli/main.js) against a real redis-server.
 * Each case runs in its own temp project folder and its own Redis database, so cases run concurrently.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { Queue, StartedJobRegistry, connect } from '../../lib/index.js';
import { DEFAULT_LOG_LINE, JOBS_TS, describeRun, distIndex, linesOf, runRq, spawnRq, waitUntilWaiting, useCliRedis } from '../helpers/cli.js';
import { waitFor } from '../helpers/redis.js';
import { excText, returnValue, status } from '../helpers/worker.js';

const { projects, freshDb } = useCliRedis();

// How long a freshly spawned `rq worker` may take to register, go idle or start its first job: seconds
// when both cores are busy with other test files (10 s was once exceeded under that load).
const START_MS = 30_000;

/** TTL of `key`, checked to be in (expected - slack, expected]. */
async function assertTtl(redis: Redis, key: string, expected: number, slack = 6): Promise<void> {
  const ttl = await redis.ttl(key);
  assert.ok(ttl <= expected && ttl > expected - slack, `TTL of ${key} is ${ttl}, expected about ${expected}`);
}

const PLUGIN_TS = `
export class Recorder {
  apply(worker: any): void {
    worker.hooks.startup.tapPromise('Recorder', async (w: any) => {
      await w.connection.rpush('plugin:startup', \`\${w.role}:\${process.pid}\`);
    });
    worker.hooks.register.tapPromise('Recorder', async (w: any) => {
      w.logger.debug('Recorder: a debug line from a plugin');
    });
  }
}
`;

describe('rq worker: burst mode and queues', { concurrency: 4 }, () => {
  it('-b drains the queues in the order given, logs like rq (HH:MM:SS message) and exits 0', async () => {
    const { url, redis, queue } = freshDb();
    const dir = projects.make({ 'jobs.ts': JOBS_TS });
    await queue('low').enqueue('jobs.record', 'order', 'low');
    const job = await queue('default').enqueue('jobs.add', 2, 3);
    await queue('high').enqueue('jobs.record', 'order', 'high');
    const r = await runRq(['worker', '-b', '-u', url, 'high', 'default', 'low'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    const expected = ['*** Listening for work on high, default, low', 'Got jobs.add(2, 3) from default', 'No more work, burst finished.', 'Registering death.'];
    let at = -1;
    for (const text of expected) {
      const i = r.output.indexOf(text);
      assert.ok(i > at, `"${text}" missing or out of order; ${describeRun(r)}`);
      at = i;
    }
    assert.ok(r.output.includes('Job OK, result = 5'), describeRun(r));
    for (const line of linesOf(r.output)) assert.match(line, DEFAULT_LOG_LINE, `not in the default log format: ${line}`);
    assert.deepEqual(await redis.lrange('order', 0, -1), ['high', 'low'], 'high before low: queue order is priority');
    assert.equal(await returnValue(redis, job.id), 5);
    assert.equal(await redis.llen('rq:queue:low'), 0, 'all queues drained');
  });

  it('--burst (long form) with nothing to do exits 0 at once', async () => {
    const { url } = freshDb();
    const r = await runRq(['worker', '--burst', '--url', url], { cwd: projects.make() });
    assert.equal(r.code, 0, describeRun(r));
    assert.ok(r.output.includes('No more work, burst finished.'), describeRun(r));
    assert.ok(r.output.includes('Registering death.'), describeRun(r));
  });

  it('queues default to "default" when neither arguments nor config name any', async () => {
    const { url, redis, queue } = freshDb();
    const job = await queue().enqueue('jobs.add', 1, 1);
    const r = await runRq(['worker', '-b', '-u', url], { cwd: projects.make({ 'jobs.ts': JOBS_TS }) });
    assert.equal(r.code, 0, describeRun(r));
    assert.ok(r.output.includes('*** Listening for work on default\n'), describeRun(r));
    assert.equal(await status(redis, job.id), 'finished');
  });

  it('queues come from config QUEUES when no arguments are given, and arguments win over QUEUES', async () => {
    const { url, redis, queue } = freshDb();
    const dir = projects.make({ 'jobs.ts': JOBS_TS, 'settings.ts': "export const QUEUES = ['alpha', 'beta'];\n" });
    const job = await queue('beta').enqueue('jobs.add', 1, 2);
    const fromConfig = await runRq(['worker', '-b', '-u', url, '-c', 'settings'], { cwd: dir });
    assert.equal(fromConfig.code, 0, describeRun(fromConfig));
    assert.ok(fromConfig.output.includes('*** Listening for work on alpha, beta\n'), describeRun(fromConfig));
    assert.equal(await status(redis, job.id), 'finished');
    const fromArgs = await runRq(['worker', '-b', '-u', url, '-c', 'settings', 'gamma'], { cwd: dir });
    assert.equal(fromArgs.code, 0, describeRun(fromArgs));
    assert.ok(fromArgs.output.includes('*** Listening for work on gamma\n'), describeRun(fromArgs));
  });

  it('--max-jobs 1 runs one job, leaves the second queued and exits 0', async () => {
    const { url, redis, queue } = freshDb();
    const first = await queue().enqueue('jobs.add', 1, 2);
    const second = await queue().enqueue('jobs.add', 3, 4);
    const r = await runRq(['worker', '-b', '-u', url, '--max-jobs', '1'], { cwd: projects.make({ 'jobs.ts': JOBS_TS }) });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(await status(redis, first.id), 'finished');
    assert.equal(await status(redis, second.id), 'queued');
    assert.deepEqual(await redis.lrange('rq:queue:default', 0, -1), [second.id]);
    assert.ok(r.output.includes('finished executing 1 jobs, quitting'), describeRun(r));
  });

  it('--max-jobs stops a non-burst worker too', async () => {
    const { url, redis, queue } = freshDb();
    const job = await queue().enqueue('jobs.add', 1, 2);
    const r = await runRq(['worker', '-u', url, '--max-jobs', '1'], { cwd: projects.make({ 'jobs.ts': JOBS_TS }), timeoutMs: 20_000 });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(await status(redis, job.id), 'finished');
  });
});

describe('rq worker: name, TTLs, pid file', { concurrency: 4 }, () => {
  it('-n: rq:worker:<name> exists while the worker runs; SIGTERM ends it with exit 0', async () => {
    const { db, url, redis } = freshDb();
    for (const flag of ['-n']) {
      const name = `cli-named${flag.length}`;
      const w = spawnRq(['worker', '-u', url, flag, name], { cwd: projects.make() });
      try {
        await waitFor(() => redis.sismember('rq:workers', `rq:worker:${name}`), `rq:worker:${name} in rq:workers`, START_MS);
        assert.equal(await redis.hget(`rq:worker:${name}`, 'pid'), String(w.pid));
        await w.waitForOutput(`Worker rq:worker:${name}: started with PID ${w.pid}`);
        // In its blocking wait (a stop between two polls is another test's subject).
        await waitUntilWaiting(redis, db);
      } finally {
        const exit = await w.stop('SIGTERM');
        assert.equal(exit.code, 0, w.output);
      }
      assert.ok(w.output.includes('Registering death.'), w.output);
      assert.equal(await redis.sismember('rq:workers', `rq:worker:${name}`), 0, 'unregistered at death');
    }
  });

  it('SIGTERM while the idle worker is between two waits (here: in a slow heartbeat plugin) still stops it promptly', async () => {
    const { url, redis } = freshDb();
    const dir = projects.make({
      'slow.ts': `export class SlowHeartbeat {
  apply(worker: any): void {
    worker.hooks.heartbeat.tapPromise('SlowHeartbeat', async (w: any) => {
      await w.connection.set('heartbeat:in', String(process.pid));
      await new Promise((r) => setTimeout(r, 1000));
    });
  }
}
`,
    });
    const w = spawnRq(['worker', '-u', url, '-n', 'between', '--plugin', 'slow.SlowHeartbeat'], { cwd: dir, timeoutMs: 30_000 });
    await waitFor(() => redis.get('heartbeat:in'), 'the idle heartbeat', START_MS);
    const t0 = Date.now();
    w.child.kill('SIGTERM');
    const exit = await w.exited;
    assert.equal(exit.code, 0, w.output);
    // A stop that is not honoured between the waits lasts until the next wait for work ends (405 s);
    // the bound leaves room for a loaded machine (6 s was once exceeded under load).
    assert.ok(Date.now() - t0 < 15_000, `stopped after ${Date.now() - t0} ms`);
    assert.ok(w.output.includes('Registering death.'), w.output);
  });

  it('a random name is used without --name (32 hex digits, as uuid4().hex)', async () => {
    const { url } = freshDb();
    const r = await runRq(['worker', '-b', '-u', url], { cwd: projects.make() });
    assert.equal(r.code, 0, describeRun(r));
    assert.match(r.output, /Worker rq:worker:[0-9a-f]{32}: started/);
  });

  it('--worker-ttl (and --name): the idle worker key lives worker-ttl + 60 seconds (default 420 + 60)', async () => {
    const { db, url, redis } = freshDb();
    const custom = spawnRq(['worker', '-u', url, '--name', 'ttl100', '--worker-ttl', '100'], { cwd: projects.make() });
    const plain = spawnRq(['worker', '-u', url, '-n', 'ttldefault'], { cwd: projects.make() });
    try {
      await waitFor(async () => (await redis.hget('rq:worker:ttl100', 'state')) === 'idle', 'the worker to be idle', START_MS);
      await assertTtl(redis, 'rq:worker:ttl100', 160);
      await waitFor(async () => (await redis.hget('rq:worker:ttldefault', 'state')) === 'idle', 'the default worker to be idle', START_MS);
      await assertTtl(redis, 'rq:worker:ttldefault', 480);
      await waitUntilWaiting(redis, db, 2);
    } finally {
      assert.equal((await custom.stop()).code, 0, custom.output);
      assert.equal((await plain.stop()).code, 0, plain.output);
    }
  });

  it('--job-monitoring-interval: a busy worker key and its StartedJobRegistry entry live interval + 60 s (default 30 + 60)', async () => {
    const { url, redis, queue } = freshDb();
    const dir = projects.make({ 'jobs.ts': JOBS_TS });
    const job = await queue().enqueue('jobs.hold', 'release:a');
    const w = spawnRq(['worker', '-b', '-u', url, '-n', 'jmi', '--job-monitoring-interval', '5'], { cwd: dir });
    try {
      await waitFor(async () => (await status(redis, job.id)) === 'started', 'the job to start', START_MS);
      await assertTtl(redis, 'rq:worker:jmi', 65);
      const score = Number(await redis.zscore('rq:wip:default', job.id));
      const now = Date.now() / 1000;
      assert.ok(score > now + 58 && score <= now + 66, `StartedJobRegistry score ${score - now} s ahead, expected about 65`);
      await redis.rpush('release:a', 'go');
      assert.equal((await w.exited).code, 0, w.output);
    } finally {
      await w.stop('SIGKILL');
    }
    assert.equal(await status(redis, job.id), 'finished');
    const job2 = await queue().enqueue('jobs.hold', 'release:b');
    const d = spawnRq(['worker', '-b', '-u', url, '-n', 'jmidefault'], { cwd: dir });
    try {
      await waitFor(async () => (await status(redis, job2.id)) === 'started', 'the second job to start', START_MS);
      await assertTtl(redis, 'rq:worker:jmidefault', 90);
      await redis.rpush('release:b', 'go');
      assert.equal((await d.exited).code, 0, d.output);
    } finally {
      await d.stop('SIGKILL');
    }
  });

  it('--pid FILE: the file holds the worker process id', async () => {
    const { url } = freshDb();
    const dir = projects.make();
    const r = await runRq(['worker', '-b', '-u', url, '--pid', 'worker.pid'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(readFileSync(join(dir, 'worker.pid'), 'utf8').trim(), String(r.pid));
  });

  it('--pid FILE is written before the first job runs (a supervisor can read it while the worker lives)', async () => {
    const { db, url, redis } = freshDb();
    const dir = projects.make();
    const w = spawnRq(['worker', '-u', url, '--pid', 'live.pid'], { cwd: dir });
    try {
      await waitFor(() => existsSync(join(dir, 'live.pid')) && readFileSync(join(dir, 'live.pid'), 'utf8').trim() === String(w.pid), 'the pid file', START_MS);
      await waitUntilWaiting(redis, db);
    } finally {
      assert.equal((await w.stop()).code, 0, w.output);
    }
  });
});

describe('rq worker: results and logging', { concurrency: 4 }, () => {
  it('--results-ttl sets the finished job TTL; default 500', async () => {
    const { url, redis, queue } = freshDb();
    const dir = projects.make({ 'jobs.ts': JOBS_TS });
    const a = await queue().enqueue('jobs.add', 1, 1);
    const r = await runRq(['worker', '-b', '-u', url, '--results-ttl', '77'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    await assertTtl(redis, `rq:job:${a.id}`, 77);
    assert.ok(r.output.includes('Result is kept for 77 seconds'), describeRun(r));
    const b = await queue().enqueue('jobs.add', 1, 1);
    const d = await runRq(['worker', '-b', '-u', url], { cwd: dir });
    assert.equal(d.code, 0, describeRun(d));
    await assertTtl(redis, `rq:job:${b.id}`, 500);
  });

  it('--results-ttl -1 keeps results forever; 0 discards them', async () => {
    const { url, redis, queue } = freshDb();
    const dir = projects.make({ 'jobs.ts': JOBS_TS });
    const keep = await queue().enqueue('jobs.add', 1, 1);
    const r = await runRq(['worker', '-b', '-u', url, '--results-ttl', '-1'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(await redis.ttl(`rq:job:${keep.id}`), -1);
    const gone = await queue().enqueue('jobs.add', 1, 1);
    const z = await runRq(['worker', '-b', '-u', url, '--results-ttl', '0'], { cwd: dir });
    assert.equal(z.code, 0, describeRun(z));
    assert.equal(await redis.exists(`rq:job:${gone.id}`), 0);
  });

  it('--disable-job-desc-logging logs "Got job <id> from default", not the call string', async () => {
    const { url, queue } = freshDb();
    const job = await queue().enqueue('jobs.add', 2, 3);
    const r = await runRq(['worker', '-b', '-u', url, '--disable-job-desc-logging'], { cwd: projects.make({ 'jobs.ts': JOBS_TS }) });
    assert.equal(r.code, 0, describeRun(r));
    assert.ok(r.output.includes(`Got job ${job.id} from default`), describeRun(r));
    assert.ok(!r.output.includes('jobs.add(2, 3)'), describeRun(r));
  });

  it("--log-format '%(levelname)s:%(name)s:%(process)d %(message)s'", async () => {
    const { url } = freshDb();
    const r = await runRq(['worker', '-b', '-u', url, '--log-format', '%(levelname)s:%(name)s:%(process)d %(message)s'], { cwd: projects.make() });
    assert.equal(r.code, 0, describeRun(r));
    assert.ok(r.output.includes(`INFO:rq.worker:${r.pid} *** Listening for work on default\n`), describeRun(r));
    for (const line of linesOf(r.output)) assert.match(line, new RegExp(`^INFO:rq\\.worker:${r.pid} `));
  });

  it("--date-format '%Y' changes asctime", async () => {
    const { url } = freshDb();
    const r = await runRq(['worker', '-b', '-u', url, '--date-format', '%Y'], { cwd: projects.make() });
    assert.equal(r.code, 0, describeRun(r));
    const year = new Date().getFullYear();
    for (const line of linesOf(r.output)) assert.ok(line.startsWith(`${year} `), `expected "${year} ..." got ${line}`);
    assert.ok(r.output.includes(`${year} *** Listening for work on default`), describeRun(r));
  });

  it('--logging_level WARNING: no INFO lines, errors still logged', async () => {
    const { url, redis, queue } = freshDb();
    const dir = projects.make({ 'jobs.ts': JOBS_TS });
    const ok = await queue().enqueue('jobs.add', 1, 2);
    const bad = await queue().enqueue('jobs.boom', 'kaput');
    for (const level of ['WARNING', 'warning']) {
      const r = await runRq(['worker', '-b', '-u', url, '--logging_level', level, '--log-format', '%(levelname)s %(message)s'], { cwd: dir });
      assert.equal(r.code, 0, describeRun(r));
      assert.ok(!/^INFO /m.test(r.output), `no INFO lines expected; ${describeRun(r)}`);
      assert.ok(!r.output.includes('Listening for work'), describeRun(r));
      if (level === 'WARNING') {
        assert.match(r.output, /^ERROR \[Job .*\]: exception raised while executing \(jobs\.boom\)/m);
        assert.ok(r.output.includes('kaput'), describeRun(r));
      }
    }
    assert.equal(await status(redis, ok.id), 'finished');
    assert.equal(await status(redis, bad.id), 'failed');
  });

  it('--logging_level rejects an unknown level with exit 2', async () => {
    const { url } = freshDb();
    const r = await runRq(['worker', '-b', '-u', url, '--logging_level', 'LOUD'], { cwd: projects.make() });
    assert.equal(r.code, 2, describeRun(r));
    assert.ok(r.stderr.includes('--logging_level'), describeRun(r));
  });

  it('-q/--quiet: WARNING level (no INFO lines)', async () => {
    const { url, redis, queue } = freshDb();
    const dir = projects.make({ 'jobs.ts': JOBS_TS });
    for (const flag of ['-q', '--quiet']) {
      const job = await queue().enqueue('jobs.add', 1, 2);
      const r = await runRq(['worker', '-b', '-u', url, flag, '--log-format', '%(levelname)s %(message)s'], { cwd: dir });
      assert.equal(r.code, 0, describeRun(r));
      assert.equal(r.output, '', `${flag}: nothing at INFO; ${describeRun(r)}`);
      assert.equal(await status(redis, job.id), 'finished');
    }
  });

  it('-v/--verbose: DEBUG level (a plugin\'s logger.debug line shows; it does not without -v)', async () => {
    const { url } = freshDb();
    const dir = projects.make({ 'plug.ts': PLUGIN_TS });
    for (const flag of ['-v', '--verbose']) {
      const r = await runRq(['worker', '-b', '-u', url, flag, '--plugin', 'plug.Recorder', '--log-format', '%(levelname)s %(message)s'], { cwd: dir });
      assert.equal(r.code, 0, describeRun(r));
      assert.ok(r.output.includes('DEBUG Recorder: a debug line from a plugin'), describeRun(r));
      assert.ok(r.output.includes('INFO *** Listening for work on default'), describeRun(r));
    }
    const quiet = await runRq(['worker', '-b', '-u', url, '--plugin', 'plug.Recorder'], { cwd: dir });
    assert.equal(quiet.code, 0, describeRun(quiet));
    assert.ok(!quiet.output.includes('Recorder: a debug line'), describeRun(quiet));
  });

  it('-v shows the worker\'s own DEBUG lines, as rq does ("Registering birth of worker ...", heartbeats, job handling)', async () => {
    const { url, queue } = freshDb();
    await queue().enqueue('jobs.add', 1, 2);
    const r = await runRq(['worker', '-b', '-u', url, '-v', '--log-format', '%(levelname)s %(message)s'], { cwd: projects.make({ 'jobs.ts': JOBS_TS }) });
    assert.equal(r.code, 0, describeRun(r));
    assert.match(r.output, /^DEBUG /m, `-v should add rq-ts's own DEBUG lines; ${describeRun(r)}`);
  });

  it('-q and -v together: exit 2, one stderr line naming both flags, no stack trace', async () => {
    const { url } = freshDb();
    const r = await runRq(['worker', '-b', '-u', url, '-q', '-v'], { cwd: projects.make() });
    assert.equal(r.code, 2, describeRun(r));
    assert.equal(r.stdout, '');
    const lines = linesOf(r.stderr);
    assert.equal(lines.length, 1, `one line expected; ${describeRun(r)}`);
    assert.match(lines[0]!, /--verbose|-v/);
    assert.match(lines[0]!, /--quiet|-q/);
  });
});

describe('rq worker: serializer, scheduler, paths, plugins, horse', { concurrency: 4 }, () => {
  it('-S rq.serializers.JSONSerializer (and --serializer json) are accepted and jobs run', async () => {
    const { url, redis, queue } = freshDb();
    const dir = projects.make({ 'jobs.ts': JOBS_TS });
    for (const args of [['-S', 'rq.serializers.JSONSerializer'], ['--serializer', 'json']]) {
      const job = await queue().enqueue('jobs.add', 20, 22);
      const r = await runRq(['worker', '-b', '-u', url, ...args], { cwd: dir });
      assert.equal(r.code, 0, describeRun(r));
      assert.equal(await returnValue(redis, job.id), 42);
    }
  });

  it('-S rq.serializers.DefaultSerializer: exit 2, pickle is named', async () => {
    const { url } = freshDb();
    const r = await runRq(['worker', '-b', '-u', url, '-S', 'rq.serializers.DefaultSerializer'], { cwd: projects.make() });
    assert.equal(r.code, 2, describeRun(r));
    assert.equal(linesOf(r.stderr).length, 1, describeRun(r));
    assert.match(r.stderr, /pickle/i);
    assert.ok(r.stderr.includes('rq.serializers.DefaultSerializer'), describeRun(r));
  });

  it('-S with a custom serializer (a dotted path to a dumps/loads object) is used by the worker and the horse', async () => {
    const { url, redis } = freshDb();
    const SER_TS = `import { JSONSerializer } from ${JSON.stringify(distIndex)};
export const Tagged = {
  dumps(value: unknown): Buffer { return Buffer.concat([Buffer.from('TAG:'), JSONSerializer.dumps(value)]); },
  loads(data: Buffer | string): unknown {
    const b = Buffer.from(data);
    if (b.subarray(0, 4).toString() !== 'TAG:') throw new Error('not tagged');
    return JSONSerializer.loads(b.subarray(4));
  },
};
export const Bad = { dumps: 1 };
`;
    const dir = projects.make({ 'jobs.ts': JOBS_TS, 'ser.ts': SER_TS });
    // The enqueuer's copy of ser.Tagged (this test process does not load .ts modules).
    const tagged = {
      dumps: (v: unknown): Buffer => Buffer.concat([Buffer.from('TAG:'), Buffer.from(JSON.stringify(v))]),
      loads: (d: Buffer | string): unknown => JSON.parse(Buffer.from(d).subarray(4).toString()),
    };
    const job = await new Queue('default', { connection: redis, serializer: tagged }).enqueue('jobs.add', 20, 22);
    const r = await runRq(['worker', '-b', '-u', url, '-S', 'ser.Tagged'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(await status(redis, job.id), 'finished', describeRun(r));
    const bad = await runRq(['worker', '-b', '-u', url, '-S', 'ser.Bad'], { cwd: dir });
    assert.equal(bad.code, 2, describeRun(bad));
    assert.match(bad.stderr, /ser\.Bad.*dumps\(\) and loads\(\)/);
  });

  it('-s/--with-scheduler: a due scheduled job is enqueued and run; without -s it stays scheduled', async () => {
    const { url, redis, queue } = freshDb();
    const dir = projects.make({ 'jobs.ts': JOBS_TS });
    const due = await queue().enqueueAt(new Date(Date.now() - 1000), 'jobs.add', 1, 2);
    const without = await runRq(['worker', '-b', '-u', url], { cwd: dir });
    assert.equal(without.code, 0, describeRun(without));
    assert.equal(await status(redis, due.id), 'scheduled');
    for (const flag of ['-s', '--with-scheduler']) {
      const job = flag === '-s' ? due : await queue().enqueueAt(new Date(Date.now() - 1000), 'jobs.add', 1, 2);
      const r = await runRq(['worker', '-b', '-u', url, flag], { cwd: dir });
      assert.equal(r.code, 0, describeRun(r));
      assert.equal(await returnValue(redis, job.id), 3, `${flag}: ${describeRun(r)}`);
    }
  });

  it('-P/--path: job modules are found in the given folders', async () => {
    const { url, redis, queue } = freshDb();
    const dir = projects.make({ 'src/jobs.ts': JOBS_TS, 'other/extra.ts': 'export const triple = (x: number): number => 3 * x;\n' });
    const a = await queue().enqueue('jobs.add', 2, 2);
    const b = await queue().enqueue('extra.triple', 5);
    const r = await runRq(['worker', '-b', '-u', url, '-P', 'src', '--path', join(dir, 'other')], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(await returnValue(redis, a.id), 4);
    assert.equal(await returnValue(redis, b.id), 15);
    const c = await queue().enqueue('jobs.add', 2, 2);
    const without = await runRq(['worker', '-b', '-u', url], { cwd: dir });
    assert.equal(without.code, 0, describeRun(without));
    assert.equal(await status(redis, c.id), 'failed', 'without -P the module is not found');
  });

  it('--plugin PATH is applied in the worker and in the work horse', async () => {
    const { url, redis } = freshDb();
    const r = await runRq(['worker', '-b', '-u', url, '--plugin', 'plug.Recorder'], { cwd: projects.make({ 'plug.ts': PLUGIN_TS }) });
    assert.equal(r.code, 0, describeRun(r));
    const entries = await redis.lrange('plugin:startup', 0, -1);
    assert.ok(entries.includes(`worker:${r.pid}`), `startup in the worker: ${entries.join(', ')}`);
    assert.ok(entries.some((e) => e.startsWith('horse:') && e !== `horse:${r.pid}`), `startup in the horse: ${entries.join(', ')}`);
  });

  it('--preload MODULE is imported by the work horse before its first job', async () => {
    const { url, redis, queue } = freshDb();
    const dir = projects.make({
      'jobs.ts': JOBS_TS,
      'warm.ts': "process.stderr.write(`preloaded in ${process.pid}\\n`);\n(globalThis as any).warmed = 'yes';\nexport {};\n",
      'check.ts': "export const warmed = (): unknown => (globalThis as any).warmed ?? 'no';\n",
    });
    const job = await queue().enqueue('check.warmed');
    const r = await runRq(['worker', '-b', '-u', url, '--preload', 'warm'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(await returnValue(redis, job.id), 'yes');
    const m = /preloaded in (\d+)/.exec(r.output);
    assert.ok(m, describeRun(r));
    assert.notEqual(m[1], String(r.pid), 'preloaded in the horse, not the worker');
  });

  it('--horse-max-jobs 1 replaces the horse after every job', async () => {
    const { url, redis, queue } = freshDb();
    const dir = projects.make({ 'jobs.ts': JOBS_TS });
    const [a, b] = [await queue().enqueue('jobs.pid'), await queue().enqueue('jobs.pid')];
    const r = await runRq(['worker', '-b', '-u', url, '--horse-max-jobs', '1'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    const [pa, pb] = [await returnValue(redis, a.id), await returnValue(redis, b.id)];
    assert.notEqual(pa, pb, 'two horses');
    assert.notEqual(pa, r.pid);
    assert.ok(r.output.includes('Replacing the work horse'), describeRun(r));
    const [c, d] = [await queue().enqueue('jobs.pid'), await queue().enqueue('jobs.pid')];
    const warm = await runRq(['worker', '-b', '-u', url], { cwd: dir });
    assert.equal(warm.code, 0, describeRun(warm));
    assert.equal(await returnValue(redis, c.id), await returnValue(redis, d.id), 'by default one warm horse runs both');
  });

  it('--horse-max-memory 1 (MiB) replaces the horse after every job', async () => {
    const { url, redis, queue } = freshDb();
    const [a, b] = [await queue().enqueue('jobs.pid'), await queue().enqueue('jobs.pid')];
    const r = await runRq(['worker', '-b', '-u', url, '--horse-max-memory', '1'], { cwd: projects.make({ 'jobs.ts': JOBS_TS }) });
    assert.equal(r.code, 0, describeRun(r));
    assert.notEqual(await returnValue(redis, a.id), await returnValue(redis, b.id));
    assert.match(r.output, /Replacing the work horse \(pid \d+\) after 1 jobs/);
  });
});

describe('rq worker: exception handlers', { concurrency: 4 }, () => {
  const HANDLERS_TS = `
import type { Job } from ${JSON.stringify(distIndex)};
const note = (tag: string) => async (job: Job, error: Error): Promise<unknown> => {
  await job.connection.rpush('handlers:' + job.id, \`\${tag}:\${error.message}\`);
  return undefined;
};
export const H1 = note('h1');
export const H2 = note('h2');
export async function Stop(job: Job): Promise<boolean> {
  await job.connection.rpush('handlers:' + job.id, 'stop');
  return false;
}
export class NotAHandler {}
`;

  it('--exception-handler is repeatable: handlers run in the order given; the job still goes to rq:failed', async () => {
    const { url, redis, queue } = freshDb();
    const job = await queue().enqueue('jobs.boom', 'bad');
    const r = await runRq(['worker', '-b', '-u', url, '--exception-handler', 'handlers.H1', '--exception-handler', 'handlers.H2'], {
      cwd: projects.make({ 'jobs.ts': JOBS_TS, 'handlers.ts': HANDLERS_TS }),
    });
    assert.equal(r.code, 0, describeRun(r));
    assert.deepEqual(await redis.lrange(`handlers:${job.id}`, 0, -1), ['h1:bad', 'h2:bad']);
    assert.notEqual(await redis.zscore('rq:failed:default', job.id), null, 'the default handler still ran');
    assert.equal(await status(redis, job.id), 'failed');
  });

  it('a handler returning false stops the chain', async () => {
    const { url, redis, queue } = freshDb();
    const job = await queue().enqueue('jobs.boom', 'bad');
    const r = await runRq(['worker', '-b', '-u', url, '--exception-handler', 'handlers.H1', '--exception-handler', 'handlers.Stop', '--exception-handler', 'handlers.H2'], {
      cwd: projects.make({ 'jobs.ts': JOBS_TS, 'handlers.ts': HANDLERS_TS }),
    });
    assert.equal(r.code, 0, describeRun(r));
    assert.deepEqual(await redis.lrange(`handlers:${job.id}`, 0, -1), ['h1:bad', 'stop']);
  });

  it('-d/--disable-default-exception-handler: no rq:failed entry, custom handlers still run', async () => {
    const { url, redis, queue } = freshDb();
    const dir = projects.make({ 'jobs.ts': JOBS_TS, 'handlers.ts': HANDLERS_TS });
    for (const flag of ['-d', '--disable-default-exception-handler']) {
      const job = await queue().enqueue('jobs.boom', 'bad');
      const r = await runRq(['worker', '-b', '-u', url, flag, '--exception-handler', 'handlers.H1'], { cwd: dir });
      assert.equal(r.code, 0, describeRun(r));
      assert.deepEqual(await redis.lrange(`handlers:${job.id}`, 0, -1), ['h1:bad']);
      assert.equal(await redis.zscore('rq:failed:default', job.id), null, `${flag}: not in the FailedJobRegistry`);
      assert.ok(!r.output.includes(`Moving job ${job.id} to FailedJobRegistry`), describeRun(r));
    }
    const control = await queue().enqueue('jobs.boom', 'bad');
    const r = await runRq(['worker', '-b', '-u', url], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    assert.notEqual(await redis.zscore('rq:failed:default', control.id), null, 'without -d the job is in rq:failed');
  });

  it('--exception-handler naming a missing export: exit 2, one line naming the path', async () => {
    const { url } = freshDb();
    const r = await runRq(['worker', '-b', '-u', url, '--exception-handler', 'handlers.NoSuch'], { cwd: projects.make({ 'handlers.ts': HANDLERS_TS }) });
    assert.equal(r.code, 2, describeRun(r));
    assert.equal(linesOf(r.stderr).length, 1, describeRun(r));
    assert.match(r.stderr, /handlers\.NoSuch.*--exception-handler.*no export "NoSuch"/);
  });
});

describe('rq worker -w rq.SimpleWorker: a job that blocks the event loop past its timeout', { concurrency: 2 }, () => {
  const SPIN_TS = `export function spin(): never { for (;;) {} }\nexport function add(a: number, b: number): number { return a + b; }\n`;
  // A hard deadline, not a wait: start-up alone took over 15 s at a load average of 20 (issue 21, item 7).

  it('the watchdog fails the job with JobTimeoutException, registers the death and ends the process; nothing queued is lost', async () => {
    const { url, redis, queue } = freshDb();
    const dir = projects.make({ 'jobs.ts': SPIN_TS });
    const spin = await queue().enqueueCall({ func: 'jobs.spin', timeout: 1 });
    const next = await queue().enqueue('jobs.add', 1, 2);
    const w = spawnRq(['worker', '-b', '-u', url, '-w', 'rq.SimpleWorker', '-n', 'blocked'], { cwd: dir, timeoutMs: 60_000 });
    const exit = await w.exited;
    assert.equal(exit.signal, 'SIGKILL', `ended by the watchdog; ${w.output}`);
    assert.match(w.stderr, new RegExp(`rq-ts watchdog: job ${spin.id} is [\\d.]+ s past its timeout of 1 s and has blocked the event loop of process ${w.pid} for [\\d.]+ s`));
    assert.match(w.stderr, /Run such jobs in a Worker/);
    assert.equal(await status(redis, spin.id), 'failed');
    assert.notEqual(await redis.zscore('rq:failed:default', spin.id), null, 'in the FailedJobRegistry');
    assert.equal(await redis.zscore('rq:wip:default', spin.id), null, 'no longer started');
    const exc = await excText(redis, spin.id);
    assert.match(exc, /^JobTimeoutException: Task exceeded maximum timeout value \(1 seconds\)\nThe job kept the event loop of worker rq:worker:blocked/);
    assert.equal(await redis.sismember('rq:workers', 'rq:worker:blocked'), 0, 'out of rq:workers');
    assert.equal(await redis.sismember('rq:workers:default', 'rq:worker:blocked'), 0, 'out of rq:workers:default');
    assert.notEqual(await redis.hget('rq:worker:blocked', 'death'), null, 'death registered');
    // The job after it was in the queue or taken ahead (an intermediate list, which maintenance empties back into the queue).
    const waiting = [...(await redis.lrange('rq:queue:default', 0, -1)), ...(await redis.lrange('rq:queue:default:intermediate', 0, -1))];
    assert.deepEqual(waiting, [next.id]);
    await redis.lrem('rq:queue:default:intermediate', 0, next.id);
    await redis.lrem('rq:queue:default', 0, next.id);
    await redis.rpush('rq:queue:default', next.id);
    const r = await runRq(['worker', '-b', '-u', url, '-w', 'rq.SimpleWorker'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(await returnValue(redis, next.id), 3, 'a new worker runs the job after it');
  });

  it('under another key prefix (REDIS_PREFIX), the failure and the death are written there', async () => {
    const { url, redis } = freshDb();
    const dir = projects.make({ 'jobs.ts': SPIN_TS });
    const app = connect({ url, prefix: 'app:' });
    const spin = await new Queue('default', { connection: app }).enqueueCall({ func: 'jobs.spin', timeout: 1 });
    app.disconnect();
    const w = spawnRq(['worker', '-b', '-u', url, '-w', 'rq.SimpleWorker', '-n', 'pfx'], { cwd: dir, env: { RQ_REDIS_PREFIX: 'app:' }, timeoutMs: 60_000 });
    assert.equal((await w.exited).signal, 'SIGKILL', w.output);
    assert.equal(await redis.hget(`app:job:${spin.id}`, 'status'), 'failed');
    assert.notEqual(await redis.zscore('app:failed:default', spin.id), null);
    assert.notEqual(await redis.hget('app:worker:pfx', 'death'), null);
    assert.deepEqual(await redis.keys('rq:*'), [], 'nothing under rq:');
  });

  it('a job id too long for the shared memory: the death is registered and maintenance fails the job later', async () => {
    const { url, redis, queue } = freshDb();
    const dir = projects.make({ 'jobs.ts': SPIN_TS });
    const id = 'j'.repeat(1100);
    await queue().enqueueCall({ func: 'jobs.spin', timeout: 1, jobId: id });
    const w = spawnRq(['worker', '-b', '-u', url, '-w', 'rq.SimpleWorker', '-n', 'long'], { cwd: dir, timeoutMs: 60_000 });
    assert.equal((await w.exited).signal, 'SIGKILL', w.output);
    assert.match(w.stderr, /job \(id too long to show\) is [\d.]+ s past its timeout/);
    assert.notEqual(await redis.hget('rq:worker:long', 'death'), null);
    assert.equal(await status(redis, id), 'started', 'left as it was');
    const outcomes = await new StartedJobRegistry('default', { connection: redis }).cleanupExpired(Date.now() / 1000 + 3600);
    assert.equal(outcomes.get(id), 'failed', 'failed as abandoned once its heartbeat TTL has passed');
  });

  it('a job with retries left is requeued instead of failed', async () => {
    const { url, redis, queue } = freshDb();
    const dir = projects.make({ 'jobs.ts': SPIN_TS });
    const spin = await queue().enqueueCall({ func: 'jobs.spin', timeout: 1, retry: { max: 1 } });
    const w = spawnRq(['worker', '-b', '-u', url, '-w', 'rq.SimpleWorker'], { cwd: dir, timeoutMs: 60_000 });
    const exit = await w.exited;
    assert.equal(exit.signal, 'SIGKILL', w.output);
    assert.match(w.stderr, new RegExp(`job ${spin.id}: requeued`));
    assert.equal(await status(redis, spin.id), 'queued');
    assert.equal(await redis.hget(`rq:job:${spin.id}`, 'retries_left'), '0');
    assert.deepEqual(await redis.lrange('rq:queue:default', 0, -1), [spin.id]);
  });
});
