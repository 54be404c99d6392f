/**
 * Fault injection: jobs that misbehave (never return, block the event loop, run out of heap,
 * process.exit) and data in Redis that no job writer would produce (a stranger's hash, binary
 * garbage, unknown status, huge args, odd ids, random hashes). Each job must end failed with a
 * reason (or be skipped with a logged reason), and the worker must survive.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { Queue, SimpleWorker, connect, epochSeconds } from '../../lib/index.js';
import { distIndex } from '../helpers/cli.js';
import type { RedisServer } from '../helpers/redis.js';
import { collectingLogger, excText, repoRoot, returnValue, task } from '../helpers/worker.js';
import { TcpProxy } from './proxy.js';
import { SOAK, prng, useFaultSetup, waitExit, type FaultWorker } from './spawn.js';
import { cleanRegistries } from '../../plugins/MaintenancePlugin.js';

let server: RedisServer;
let redis: Redis;
let cwd = '';
const workers = useFaultSetup('bad', (s) => ({ server, redis, cwd } = s));
const extra = new Set<import('node:child_process').ChildProcess>();

after(async () => {
  for (const c of extra) {
    if (c.exitCode === null && c.signalCode === null && c.pid) {
      try {
        process.kill(-c.pid, 'SIGKILL');
      } catch {
        c.kill('SIGKILL');
      }
    }
  }
});

/** Runs a small script worker (`new Worker(..., { horse: { execArgv } })`, burst) as a real process. */
async function runScriptWorker(q: string, execArgv: string[], ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  const file = join(cwd, `worker-${q}.mjs`);
  writeFileSync(
    file,
    `import { Worker, connect } from ${JSON.stringify(distIndex)};
const connection = connect(${JSON.stringify(server.url)});
const w = new Worker([${JSON.stringify(q)}], { connection, name: ${JSON.stringify(`script-${q}-${process.pid}`)}, horse: { execArgv: ${JSON.stringify(execArgv)} }, paths: [${JSON.stringify(repoRoot)}] });
await w.work({ burst: true });
connection.disconnect();
`,
  );
  const child = spawn(process.execPath, [file], { cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  extra.add(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => child.pid && process.kill(-child.pid, 'SIGKILL'), ms);
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('close', (code, signal) => r({ code, signal })));
  clearTimeout(timer);
  extra.delete(child);
  return { ...exit, output: out };
}

describe('misbehaving jobs fail with a reason and the worker survives', () => {
  it('never returns, blocks the event loop, runs out of heap, process.exit(0): each failed, each followed by a job that finishes', { timeout: 58_000 }, async () => {
    const q = 'misbehave';
    const queue = new Queue(q, { connection: redis });
    const bad = [
      { name: 'never returns', job: await queue.enqueueCall({ func: task('sleepForever'), timeout: 1 }) },
      { name: 'event loop blocked', job: await queue.enqueueCall({ func: task('spin'), timeout: 1 }) },
      { name: 'out of memory', job: await queue.enqueueCall({ func: task('hog'), timeout: 30 }) },
      { name: 'process.exit(0)', job: await queue.enqueueCall({ func: task('exit'), args: [0] }) },
    ];
    const follow: string[] = [];
    // Interleave: after each bad job a good one, which must finish (the worker survived it).
    await redis.del(`rq:queue:${q}`);
    for (const [i, b] of bad.entries()) {
      await redis.rpush(`rq:queue:${q}`, b.job.id);
      const ok = await queue.enqueueCall({ func: task('add'), args: [i, 1] });
      follow.push(ok.id);
    }
    assert.equal(await redis.llen(`rq:queue:${q}`), 8);
    const r = await runScriptWorker(q, ['--max-old-space-size=64'], 50_000);
    assert.equal(r.code, 0, `the worker survives and ends its burst: exit ${r.code} ${r.signal}; output:\n${r.output.slice(-4000)}`);
    for (const b of bad) {
      assert.equal(await redis.hget(b.job.key, 'status'), 'failed', `${b.name}: failed (output:\n${r.output.slice(-3000)})`);
      const exc = await excText(redis, b.job.id);
      assert.ok(exc.trim().length > 0, `${b.name}: a reason is recorded`);
      assert.equal(await redis.zscore(`rq:failed:${q}`, b.job.id) !== null, true, `${b.name}: in the FailedJobRegistry`);
      if (b.name === 'never returns' || b.name === 'event loop blocked') assert.match(exc, /timeout|JobTimeoutException/i, `${b.name}: ${exc}`);
      else assert.match(exc, /terminated|exit|memory|heap/i, `${b.name}: ${exc}`);
    }
    for (const [i, id] of follow.entries()) {
      assert.equal(await redis.hget(`rq:job:${id}`, 'status'), 'finished', `good job ${i} after a bad one finished`);
      assert.equal(await returnValue(redis, id), i + 1);
    }
    assert.equal(await redis.zcard(`rq:wip:${q}`), 0, 'nothing left started');
  });
});

describe('bad data in Redis: failed or skipped with a logged reason, the worker never crashes', () => {
  it('stranger hash, binary data, unknown status, 5 MB args, odd printable ids, missing hash', { timeout: 58_000 }, async () => {
    await badData('garbage', ['ünïcödé-☃', '空', 'quote"\\back', 'dots.and-dashes_'], true);
  });

  // A timeout no writer would produce: the worker takes the default (180 s), as for any junk timeout.
  it('junk timeouts (1e309, 1e20, nan) run under the default timeout, in a Worker and a SimpleWorker', { timeout: 58_000 }, async () => {
    const q = 'junk-timeout';
    const queue = new Queue(q, { connection: redis });
    const tmpl = await queue.enqueueCall({ func: task('add'), args: [20, 22], jobId: `template-${q}` });
    await redis.lrem(`rq:queue:${q}`, 0, tmpl.id);
    const fields = await redis.hgetallBuffer(tmpl.key);
    const ids: string[] = [];
    for (const round of ['worker', 'simple']) {
      for (const [i, timeout] of ['1e309', '99999999999999999999', 'nan'].entries()) {
        const id = `${q}-${round}-${i}`;
        await redis.hset(`rq:job:${id}`, { ...fields, timeout });
        await redis.rpush(`rq:queue:${q}`, id);
        ids.push(id);
      }
      const w = workers.spawn(['-b', ...(round === 'simple' ? ['-w', 'rq.SimpleWorker'] : []), q], 50_000);
      const exit = await waitExit(workers, w, 50_000);
      assert.equal(exit.code, 0, `${round}: the burst ends normally\n${w.output().slice(-3000)}`);
    }
    for (const id of ids) {
      assert.equal(await redis.hget(`rq:job:${id}`, 'status'), 'finished', `${id} finished`);
      assert.equal(await returnValue(redis, id), 42, `${id} returned 42`);
    }
    assert.equal(await redis.zcard(`rq:wip:${q}`), 0, 'nothing left started');
  });

  // Redis refuses the outcome script on the job's own data: the worker must go on, not retry it forever.
  it('a result stream key of the wrong type: logged, the worker goes on, maintenance fails the job later', { timeout: 30_000 }, async () => {
    await wrongResults('wrong-results', server.url);
  });

  // Over a slow network the next job's outcome script is sent before the refusal comes back: the job
  // the refused script was to start has its outcome recorded already, and must not be registered as
  // started after it (it would stay there until maintenance failed a finished job).
  it('the same over a slow network, where the refusal comes back after the next job ended', { timeout: 30_000 }, async () => {
    const proxy = await TcpProxy.start(server.port, '127.0.0.1', 5);
    try {
      await wrongResults('wrong-results-slow', proxy.url);
    } finally {
      await proxy.close();
    }
  });

  it('junk result_ttl, failure_ttl and ttl (1e20, nan) take the defaults', { timeout: 30_000 }, async () => {
    const q = 'junk-ttl';
    const queue = new Queue(q, { connection: redis });
    const ok = await queue.enqueueCall({ func: task('add'), args: [1, 1] });
    const failing = await queue.enqueueCall({ func: task('boom') });
    await redis.hset(ok.key, { result_ttl: '99999999999999999999', ttl: 'nan' });
    await redis.hset(failing.key, { failure_ttl: '99999999999999999999' });
    const conn = connect(server.url);
    const worker = new SimpleWorker([q], { connection: conn, installSignalHandlers: false, paths: [repoRoot], logger: collectingLogger() });
    try {
      await worker.work({ burst: true });
    } finally {
      conn.disconnect();
    }
    assert.equal(await redis.hget(ok.key, 'status'), 'finished');
    const okTtl = await redis.ttl(ok.key);
    assert.ok(okTtl > 0 && okTtl <= 500, `the default result TTL (500 s): ${okTtl}`);
    assert.equal(await redis.hget(failing.key, 'status'), 'failed');
    assert.notEqual(await redis.zscore(`rq:failed:${q}`, failing.id), null);
  });

  // Ids with whitespace or control characters pushed by hand (a foreign writer, or python-rq, does not validate them).
  it('ids rq-ts itself rejects (\':\', whitespace, control characters) pushed by hand', { timeout: 58_000 }, async () => {
    await badData('garbage-ws', ['colon:and/slash', 'with spaces in it', 'tab\there', 'nl\nhere'], false);
  });
});

async function badData(q: string, oddIds: string[], extras: boolean): Promise<void> {
  {
    const queue = new Queue(q, { connection: redis });
    const cases: { name: string; id: string }[] = [];
    // A stranger's hash: no data field.
    await redis.hset(`rq:job:stranger-${q}`, { owner: 'someone else', color: 'blue' });
    cases.push({ name: 'stranger hash', id: `stranger-${q}` });
    // Binary garbage in data.
    const tmpl = await queue.enqueueCall({ func: task('add'), args: [1, 1], jobId: `template-${q}` });
    await redis.lrem(`rq:queue:${q}`, 0, tmpl.id);
    const fields = await redis.hgetallBuffer(tmpl.key);
    await redis.hset(`rq:job:binary-${q}`, { ...fields, data: Buffer.from([0x78, 0x9c, 0xff, 0x00, 0xfe, 0x13, 0x37, 0x80, 0x81]) });
    cases.push({ name: 'binary data', id: `binary-${q}` });
    // Unknown status.
    await redis.hset(`rq:job:weird-status-${q}`, { ...fields, status: 'zombie' });
    cases.push({ name: 'unknown status', id: `weird-status-${q}` });
    // Odd ids, pushed by hand with a valid hash.
    if (!extras) cases.length = 0;
    for (const odd of oddIds) {
      await redis.hset(`rq:job:${odd}`, fields);
      cases.push({ name: `odd id ${JSON.stringify(odd)}`, id: odd });
    }
    // An id with no hash at all.
    if (extras) cases.push({ name: 'missing hash', id: `no-such-job-${q}` });
    for (const c of cases) await redis.rpush(`rq:queue:${q}`, c.id);
    // Huge args (5 MB string), enqueued normally.
    if (extras) {
      const huge = await queue.enqueueCall({ func: task('echo'), args: ['x'.repeat(5 * 1024 * 1024)] });
      cases.push({ name: 'huge args', id: huge.id });
    }
    const sentinel = await queue.enqueueCall({ func: task('add'), args: [40, 2] });

    const w: FaultWorker = workers.spawn(['-b', q], 50_000);
    const exit = await waitExit(workers, w, 50_000);
    const out = w.output();
    if (exit.code !== 0) writeFileSync(join(tmpdir(), `rq-ts-faults-${q}.log`), out);
    assert.equal(exit.code, 0, `the worker ends its burst normally: ${exit.code} ${exit.signal}\n${out.slice(-4000)}`);
    assert.equal(await redis.hget(sentinel.key, 'status'), 'finished', `the job after the bad ones finished\n${out.slice(-3000)}`);
    assert.equal(await returnValue(redis, sentinel.id), 42);
    assert.equal(await redis.llen(`rq:queue:${q}`), 0, 'queue drained');
    assert.equal(await redis.llen(`rq:queue:${q}:intermediate`), 0, 'nothing stranded in the intermediate list');
    assert.equal(await redis.zcard(`rq:wip:${q}`), 0, 'nothing left started');
    const report: string[] = [];
    const unaccounted: string[] = [];
    for (const c of cases) {
      const status = await redis.hget(`rq:job:${c.id}`, 'status');
      const inFailed = (await redis.zscore(`rq:failed:${q}`, c.id)) !== null;
      const inFinished = (await redis.zscore(`rq:finished:${q}`, c.id)) !== null;
      const logged = out.includes(c.id);
      report.push(`${c.name}: status=${status} failedReg=${inFailed} finishedReg=${inFinished} logged=${logged}`);
      const accounted = (status === 'failed' && inFailed) || (status === 'finished' && inFinished) || logged;
      if (!accounted) unaccounted.push(report.at(-1)!);
    }
    console.log(report.join('\n'));
    assert.deepEqual(unaccounted, [], `every case failed, finished or skipped with a logged reason\n${out.slice(-3000)}`);
  }
}

describe('bad data in Redis: fuzz', () => {

  // Variant 2 leaves retries_left out of the fuzzed fields: every job runs at most once there.
  for (const variant of [{ q: 'fuzz', skip: [] as string[] }, { q: 'fuzz-no-retries', skip: ['retries_left'] }]) it(`fuzz${variant.skip.length ? ` (without ${variant.skip})` : ''}: random job hashes through one SimpleWorker in burst mode; the worker lives, every id accounted for`, { timeout: SOAK ? 200_000 : 40_000 }, async (t) => {
    const q = variant.q;
    const N = SOAK ? 500 : 50;
    const rand = prng(20261127);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
    const queue = new Queue(q, { connection: redis });
    const tmpl = await queue.enqueueCall({ func: task('add'), args: [2, 3], jobId: `${q}-template` });
    await redis.lrem(`rq:queue:${q}`, 0, tmpl.id);
    const base = await redis.hgetallBuffer(tmpl.key);
    const echoJob = await queue.enqueueCall({ func: task('echo'), args: ['a', 1] , jobId: `${q}-echo` });
    await redis.lrem(`rq:queue:${q}`, 0, echoJob.id);
    const echoData = await redis.hgetBuffer(echoJob.key, 'data');
    const randBytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
    const junk = (): string | Buffer =>
      pick([
        () => '',
        () => 'null',
        // small integers: a retries_left of 400,000 is not junk, the worker would rightly retry that often
        () => String(Math.floor(rand() * 200) - 100),
        () => '99999999999999999999',
        () => '1e309',
        () => 'NaN',
        () => '{"a":',
        () => '[]',
        () => randBytes(1 + Math.floor(rand() * 40)),
        () => '\u0000\uffff☃',
        () => 'x'.repeat(Math.floor(rand() * 2000)),
      ])();
    const allFields = ['data', 'status', 'created_at', 'enqueued_at', 'started_at', 'ended_at', 'origin', 'timeout', 'result_ttl', 'failure_ttl', 'ttl', 'description', 'meta', 'retries_left', 'retry_intervals', 'dependency_ids', 'worker_name', 'callback_success', 'callback_failure', 'serializer', 'last_heartbeat', 'result'];
    const fieldNames = allFields.filter((f) => !variant.skip.includes(f));
    const ids: string[] = [];
    for (let i = 0; i < N; i++) {
      const id = `${q}-${i}`;
      const hash: Record<string, string | Buffer> = {};
      const mode = rand();
      if (mode < 0.4) Object.assign(hash, base); // start from a valid job and break some fields
      else if (mode < 0.6) Object.assign(hash, base, { data: echoData ?? '' });
      const n = Math.floor(rand() * 6);
      for (let k = 0; k < n; k++) hash[pick(fieldNames)] = junk();
      if (rand() < 0.3) hash.status = pick(['queued', 'started', 'finished', 'failed', 'deferred', 'canceled', 'stopped', 'scheduled', 'bogus', '']);
      if (rand() < 0.1) hash.origin = pick(['fuzz', 'elsewhere', '']);
      if (Object.keys(hash).length === 0) hash.junk = junk();
      await redis.del(`rq:job:${id}`);
      await redis.hset(`rq:job:${id}`, hash);
      await redis.rpush(`rq:queue:${q}`, id);
      ids.push(id);
    }
    const sentinel = await queue.enqueueCall({ func: task('add'), args: [20, 22] });
    const logger = collectingLogger();
    const conn = connect(server.url);
    try {
      const worker = new SimpleWorker([q], { connection: conn, logger, paths: [repoRoot], installSignalHandlers: false, name: `${q}-${process.pid}` });
      let timer: NodeJS.Timeout | undefined;
      const working = worker.work({ burst: true });
      const outcome = await Promise.race([
        working.then(
          () => 'done',
          (err: unknown) => `threw: ${err instanceof Error ? err.stack : String(err)}`,
        ),
        new Promise<string>((r) => {
          timer = setTimeout(() => r('timeout'), SOAK ? 150_000 : 25_000);
        }),
      ]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        // Stop it (the burst did not end by itself): warm, then forced; bounded.
        worker.requestStop('fuzz test timed out');
        worker.requestForceStop();
        await Promise.race([working.catch(() => {}), new Promise((r) => setTimeout(r, 5000).unref())]);
        const looping = [...new Set(logger.lines.filter((l) => l.includes('requeued for a retry')).map((l) => l.split(' ')[2]))];
        for (const id of looping) t.diagnostic(`retry loop: ${id} retries_left=${JSON.stringify(await redis.hget(`rq:job:${id}`, 'retries_left'))}`);
      }
      assert.equal(outcome, 'done', `the SimpleWorker's burst ends normally; log tail:\n${logger.lines.slice(-40).join('\n')}`);
    } finally {
      conn.disconnect();
    }
    assert.equal(await redis.hget(sentinel.key, 'status'), 'finished', 'the job after the fuzz finished');
    assert.equal(await redis.llen(`rq:queue:${q}`), 0, 'queue drained');
    assert.equal(await redis.llen(`rq:queue:${q}:intermediate`), 0, 'intermediate list empty');
    const wip = await redis.zrange(`rq:wip:${q}`, '0', '-1');
    for (const id of wip) t.diagnostic(`left in wip: ${id} ${JSON.stringify(await redis.hgetall(`rq:job:${id}`)).slice(0, 600)}`);
    assert.deepEqual(wip, [], "nothing left started");
    const tally = new Map<string, number>();
    const unaccounted: string[] = [];
    const logText = logger.lines.join('\n');
    for (const id of ids) {
      const status = await redis.hget(`rq:job:${id}`, 'status');
      const inFailed = (await redis.zscore(`rq:failed:${q}`, id)) !== null;
      const inFinished = (await redis.zscore(`rq:finished:${q}`, id)) !== null;
      let kind: string;
      if (inFinished) kind = 'finished';
      else if (inFailed) kind = 'failed';
      else if (logText.includes(id)) kind = 'skipped (logged)';
      else {
        kind = 'unaccounted';
        unaccounted.push(`${id} status=${status}`);
      }
      tally.set(kind, (tally.get(kind) ?? 0) + 1);
    }
    t.diagnostic(`fuzz ${N}: ${[...tally].map(([k, v]) => `${k}=${v}`).join(', ')}`);
    assert.deepEqual(unaccounted, [], `every id finished, failed or skipped with a logged reason; log:\n${logger.lines.slice(-60).join('\n')}`);
  });
});

/** Runs 4 jobs whose second has a result stream key of the wrong type, with a SimpleWorker connected to `url`. */
async function wrongResults(q: string, url: string): Promise<void> {
  const queue = new Queue(q, { connection: redis });
  // The bad job second: it is launched by the first job's outcome script and recorded while the third runs.
  const jobs = await queue.enqueueMany([0, 1, 2, 3].map((i) => ({ func: task('add'), args: [i, 1] })));
  const bad = jobs[1]!;
  await redis.set(`rq:results:${bad.id}`, 'not a stream');
  const logger = collectingLogger();
  const conn = connect(url);
  const worker = new SimpleWorker([q], { connection: conn, installSignalHandlers: false, paths: [repoRoot], logger, name: q });
  try {
    await worker.work({ burst: true });
  } finally {
    conn.disconnect();
  }
  for (const job of [jobs[0]!, jobs[2]!, jobs[3]!]) assert.equal(await redis.hget(job.key, 'status'), 'finished', `${job.id} finished; log:\n${logger.lines.join('\n')}`);
  assert.ok(logger.has(`Could not record the result of job ${bad.id}`), logger.lines.join('\n'));
  assert.ok(logger.has(`Could not record the failure of job ${bad.id}`), logger.lines.join('\n'));
  assert.deepEqual(await redis.zrange(`rq:wip:${q}`, '0', '-1'), [bad.id], 'only the bad job left started');
  // Neither a success nor a failure was recorded for it: the worker's counts agree with its hash.
  assert.deepEqual([worker.successfulJobCount, worker.failedJobCount], [3, 0]);
  assert.deepEqual(await redis.hmget(`rq:worker:${q}`, 'successful_job_count', 'failed_job_count'), ['3', null]);
  assert.equal(await redis.llen(`rq:queue:${q}:intermediate`), 0);
  // Its heartbeat TTL passes: maintenance fails it (the abandoned-job path leaves the stranger's
  // results key alone and writes no entry there).
  await redis.zadd(`rq:wip:${q}`, epochSeconds() - 10, bad.id);
  await redis.del(`rq:clean_registries:${q}`); // the worker's own sweep at start holds rq's lock
  await cleanRegistries(new SimpleWorker([q], { connection: redis, installSignalHandlers: false, logger: collectingLogger() }));
  assert.equal(await redis.hget(bad.key, 'status'), 'failed');
  assert.notEqual(await redis.zscore(`rq:failed:${q}`, bad.id), null);
  assert.equal(await redis.get(`rq:results:${bad.id}`), 'not a stream');
}
