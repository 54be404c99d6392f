/**
 * `rq enqueue` through the real binary against a real redis-server: rq's argument syntax, every
 * option, scheduling and dependencies, and bad input (one line on stderr, exit code, nothing written).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { epochSeconds, Job } from '../../lib/index.js';
import { JOBS_TS, describeRun, linesOf, runRq, useCliRedis } from '../helpers/cli.js';
import { returnValue, status } from '../helpers/worker.js';

const { projects, freshDb } = useCliRedis();

const ECHO_TS = `${JOBS_TS}
export function echo(...args: unknown[]): unknown[] { return args; }
`;

function project(files: Record<string, string> = {}): string {
  return projects.make({ 'jobs.ts': ECHO_TS, ...files });
}

function rq(args: string[], cwd = project(), env: Record<string, string> = {}) {
  return runRq(args, { cwd, env, timeoutMs: 30_000 });
}

/** The job id from `Enqueued ... with job-id '<id>'.` */
function enqueuedId(stdout: string): string {
  const m = /with job-id '([^']+)'\.\n$/.exec(stdout);
  assert.ok(m, `no "Enqueued ... with job-id" line in ${JSON.stringify(stdout)}`);
  return m[1]!;
}

describe('rq enqueue: arguments', { concurrency: 4 }, () => {
  it('v, k=v, :json, k:=json, %literal, k%=literal, @file, k=@file, :@file, k%=@file', async () => {
    const { url, redis } = freshDb();
    const cwd = project({ 'note.txt': 'text from a file\n', 'data.json': '{"from": ["json", 1]}', 'lit.py': "{'from': ('python', None)}" });
    const r = await rq(
      [
        'enqueue', '-u', url, 'jobs.echo',
        'plain', ':2', '%(1, None, True)', '@note.txt', ':@data.json',
        'k=v', 'n:={"a": [1, null]}', "lit%={'x': -1.5, 'y': 0x10}", 'f=@note.txt', 'j:=@data.json', 'p%=@lit.py',
      ],
      cwd,
    );
    assert.equal(r.code, 0, describeRun(r));
    const id = enqueuedId(r.stdout);
    const job = await Job.fetch(id, { connection: redis });
    assert.deepEqual(job.args, ['plain', 2, [1, null, true], 'text from a file\n', { from: ['json', 1] }]);
    assert.deepEqual(job.kwargs, {
      k: 'v',
      n: { a: [1, null] },
      lit: { x: -1.5, y: 16 },
      f: 'text from a file\n',
      j: { from: ['json', 1] },
      p: { from: ['python', null] },
    });
    const call =
      "jobs.echo('plain', 2, [1, None, True], 'text from a file\\n', {'from': ['json', 1]}, " +
      "f='text from a file\\n', j={'from': ['json', 1]}, k='v', lit={'x': -1.5, 'y': 16}, n={'a': [1, None]}, p={'from': ['python', None]})";
    assert.equal(r.stdout, `Enqueued ${call} with job-id '${id}'.\n`);
    assert.equal(job.description, call, 'the description is the whole call string (not cut at 75 chars)');
    assert.equal(await status(redis, id), 'queued');
    assert.deepEqual(await redis.lrange('rq:queue:default', 0, -1), [id]);
    // And it runs: our worker calls echo with the positional arguments, then the keyword ones.
    const w = await rq(['worker', '-b', '-u', url], cwd);
    assert.equal(w.code, 0, describeRun(w));
    assert.deepEqual(await returnValue(redis, id), [...job.args, job.kwargs]);
  });

  it('the first "=" splits keyword and value; a leading "=" or ":" in a plain value stays', async () => {
    const { url, redis } = freshDb();
    const r = await rq(['enqueue', '-u', url, 'jobs.echo', '=x', 'a=b=c', 'url=http://h:1/p?q=1', 'c:=3']);
    assert.equal(r.code, 0, describeRun(r));
    const job = await Job.fetch(enqueuedId(r.stdout), { connection: redis });
    assert.deepEqual(job.args, ['=x']);
    assert.deepEqual(job.kwargs, { a: 'b=c', url: 'http://h:1/p?q=1', c: 3 });
  });

  it('Python literal syntax: strings with escapes, tuples, nested dicts, numbers, trailing commas', async () => {
    const { url, redis } = freshDb();
    const literals = ["'it\\'s'", '"tab\\there"', "r'raw\\n'", "'a' 'b'", '(1,)', '()', '[1, 2,]', '1_000', '0o17', '0b11', '-2.5e-3', "{'k': [(1, 2), {}]}", '1, 2'];
    const r = await rq(['enqueue', '-u', url, 'jobs.echo', ...literals.map((l) => `%${l}`)]);
    assert.equal(r.code, 0, describeRun(r));
    const job = await Job.fetch(enqueuedId(r.stdout), { connection: redis });
    assert.deepEqual(job.args, ["it's", 'tab\there', 'raw\\n', 'ab', [1], [], [1, 2], 1000, 15, 3, -0.0025, { k: [[1, 2], {}] }, [1, 2]]);
  });
});

describe('rq enqueue: options', { concurrency: 4 }, () => {
  it('-q, --job-id, --timeout, --result-ttl, --ttl, --failure-ttl, --description, --retry-max/--retry-interval land in the job hash', async () => {
    const { url, redis } = freshDb();
    const r = await rq([
      'enqueue', '-u', url, '-q', 'other', '--job-id', 'my-job', '--timeout', '5m', '--result-ttl', '60', '--ttl', '100',
      '--failure-ttl', '30', '--description', 'a described job', '--retry-max', '2', '--retry-interval', '5', '--retry-interval', '10',
      'jobs.add', ':1', ':2',
    ]);
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(r.stdout, "Enqueued jobs.add(1, 2) with job-id 'my-job'.\n");
    const h = await redis.hgetall('rq:job:my-job');
    assert.equal(h.origin, 'other');
    assert.equal(h.timeout, '300');
    assert.equal(h.result_ttl, '60');
    assert.equal(h.ttl, '100');
    assert.equal(h.failure_ttl, '30');
    assert.equal(h.description, 'a described job');
    assert.equal(h.retries_left, '2');
    assert.equal(h.retry_intervals, '[5, 10]');
    const ttl = await redis.ttl('rq:job:my-job');
    assert.ok(ttl > 90 && ttl <= 100, `--ttl expires the queued job: TTL ${ttl}`);
    assert.deepEqual(await redis.lrange('rq:queue:other', 0, -1), ['my-job']);
    assert.equal(await redis.exists('rq:queue:default'), 0);
  });

  it('--retry-max alone retries with rq\'s default interval [0]; no --retry-max, no retry fields', async () => {
    const { url, redis } = freshDb();
    const a = await rq(['enqueue', '-u', url, '--retry-max', '3', 'jobs.add', ':1', ':2']);
    const h = await redis.hgetall(`rq:job:${enqueuedId(a.stdout)}`);
    assert.equal(h.retries_left, '3');
    assert.equal(h.retry_intervals, '[0]');
    const b = await rq(['enqueue', '-u', url, '--retry-interval', '5', 'jobs.add', ':1', ':2']);
    const hb = await redis.hgetall(`rq:job:${enqueuedId(b.stdout)}`);
    assert.equal(hb.retries_left, undefined);
  });

  it('a job with --retry-max 1 that fails is retried once by the worker, then failed', async () => {
    const { url, redis } = freshDb();
    const cwd = project();
    const r = await rq(['enqueue', '-u', url, '--retry-max', '1', 'jobs.boom'], cwd);
    const id = enqueuedId(r.stdout);
    const w = await rq(['worker', '-b', '-u', url], cwd);
    assert.equal(w.code, 0, describeRun(w));
    assert.equal(await status(redis, id), 'failed');
    assert.equal(await redis.hget(`rq:job:${id}`, 'retries_left'), '0');
  });

  it('--at-front puts the job at the head of the queue', async () => {
    const { url, redis, queue } = freshDb();
    const first = await queue().enqueue('jobs.add', 1, 1);
    const r = await rq(['enqueue', '-u', url, '--at-front', 'jobs.add', ':2', ':2']);
    assert.deepEqual(await redis.lrange('rq:queue:default', 0, -1), [enqueuedId(r.stdout), first.id]);
  });

  it('--quiet prints nothing and still enqueues', async () => {
    const { url, redis } = freshDb();
    const r = await rq(['enqueue', '-u', url, '--quiet', 'jobs.add', ':2', ':2']);
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(r.output, '');
    assert.equal(await redis.llen('rq:queue:default'), 1);
  });

  it('--depends-on an unfinished job defers; both ids recorded with repeated --depends-on; it runs after them', async () => {
    const { url, redis, queue } = freshDb();
    const cwd = project();
    const a = await queue().enqueue('jobs.add', 1, 1);
    const b = await queue().enqueue('jobs.add', 2, 2);
    const r = await rq(['enqueue', '-u', url, '--depends-on', a.id, '--depends-on', b.id, 'jobs.add', ':3', ':3'], cwd);
    assert.equal(r.code, 0, describeRun(r));
    const id = enqueuedId(r.stdout);
    assert.equal(await status(redis, id), 'deferred');
    assert.notEqual(await redis.zscore('rq:deferred:default', id), null);
    assert.equal(await redis.hget(`rq:job:${id}`, 'dependency_ids'), JSON.stringify([a.id, b.id]).replace(',', ', '));
    assert.deepEqual(await redis.lrange('rq:queue:default', 0, -1), [a.id, b.id]);
    const w = await rq(['worker', '-b', '-u', url], cwd);
    assert.equal(w.code, 0, describeRun(w));
    assert.equal(await returnValue(redis, id), 6, 'the dependent ran once both dependencies finished');
  });

  it('--depends-on a finished job enqueues at once', async () => {
    const { url, redis, queue } = freshDb();
    const cwd = project();
    const done = await queue().enqueue('jobs.add', 1, 1);
    assert.equal((await rq(['worker', '-b', '-u', url], cwd)).code, 0);
    const r = await rq(['enqueue', '-u', url, '--depends-on', done.id, 'jobs.add', ':3', ':3'], cwd);
    assert.equal(await status(redis, enqueuedId(r.stdout)), 'queued');
  });

  it('--schedule-in 10m / 2d: status scheduled, in the ScheduledJobRegistry at now + N, not on the queue', async () => {
    const { url, redis } = freshDb();
    for (const [value, seconds] of [['10m', 600], ['2d', 172800], ['45', 45]] as const) {
      const before = epochSeconds();
      const r = await rq(['enqueue', '-u', url, '--schedule-in', value, 'jobs.add', ':1', ':2']);
      assert.equal(r.code, 0, describeRun(r));
      const id = enqueuedId(r.stdout);
      assert.equal(await status(redis, id), 'scheduled');
      const score = Number(await redis.zscore('rq:scheduled:default', id));
      assert.ok(score >= before + seconds && score <= epochSeconds() + seconds, `score ${score} for --schedule-in ${value}`);
    }
    assert.equal(await redis.llen('rq:queue:default'), 0);
    assert.equal(await redis.sismember('rq:queues', 'rq:queue:default'), 1);
  });

  it('--schedule-at is naive local time (TZ=Asia/Kolkata, UTC+5:30)', async () => {
    const { url, redis } = freshDb();
    const r = await rq(['enqueue', '-u', url, '--schedule-at', '2031-05-27T21:45:00', 'jobs.add', ':1', ':2'], project(), { TZ: 'Asia/Kolkata' });
    assert.equal(r.code, 0, describeRun(r));
    const score = Number(await redis.zscore('rq:scheduled:default', enqueuedId(r.stdout)));
    assert.equal(score, Date.UTC(2031, 4, 27, 21, 45, 0) / 1000 - 5.5 * 3600);
  });

  it('a job scheduled in the past runs with `rq worker -b --with-scheduler`', async () => {
    const { url, redis } = freshDb();
    const cwd = project();
    const r = await rq(['enqueue', '-u', url, '--schedule-at', '2021-05-27T21:45:00', 'jobs.add', ':20', ':22'], cwd);
    const id = enqueuedId(r.stdout);
    const w = await rq(['worker', '-b', '--with-scheduler', '-u', url], cwd);
    assert.equal(w.code, 0, describeRun(w));
    assert.equal(await returnValue(redis, id), 42);
  });
});

describe('rq enqueue: bad input (one line on stderr, exit code, nothing written)', { concurrency: 4 }, () => {
  const cases: { args: string[]; code: number; stderr: RegExp }[] = [
    { args: ['jobs.add', ':{bad'], code: 2, stderr: /^Error: Invalid value: Unable to parse 1\. non keyword argument as JSON \(.+\)\.$/ },
    { args: ['jobs.add', ':1', ':[1,'], code: 2, stderr: /^Error: Invalid value: Unable to parse 2\. non keyword argument as JSON/ },
    { args: ['jobs.add', 'k:={bad'], code: 2, stderr: /^Error: Invalid value: Unable to parse k as JSON/ },
    { args: ['jobs.add', '%foo('], code: 2, stderr: /^Error: Invalid value: Unable to eval 1\. non keyword argument as Python object \(.*not a literal.*\)\. See https:\/\/docs\.python\.org/ },
    { args: ['jobs.add', 'k%={1, 2}'], code: 2, stderr: /^Error: Invalid value: Unable to eval k as Python object \(sets have no JSON form/ },
    { args: ['jobs.add', "%b'x'"], code: 2, stderr: /bytes literals have no JSON form/ },
    { args: ['jobs.add', '%2**70'], code: 2, stderr: /Unable to eval 1\. non keyword argument/ },
    { args: ['jobs.add', '%__import__("os")'], code: 2, stderr: /is not a literal/ },
    { args: ['jobs.add', 'k=1', 'k=2'], code: 2, stderr: /^Error: Invalid value: You can't specify multiple values for the same keyword \(k\)\.$/ },
    { args: ['jobs.add', '@missing.txt'], code: 1, stderr: /^Error: Could not open file 'missing\.txt': Not found$/ },
    { args: ['--schedule-in', '5x', 'jobs.add'], code: 2, stderr: /^Error: Invalid value for '--schedule-in': "5x" is not a duration/ },
    { args: ['--schedule-at', '2021-02-30T10:00:00', 'jobs.add'], code: 2, stderr: /^Error: Invalid value for '--schedule-at': "2021-02-30T10:00:00"/ },
    { args: ['--schedule-at', '2021-05-27 21:45', 'jobs.add'], code: 2, stderr: /--schedule-at/ },
    { args: ['--schedule-in', '5', '--schedule-at', '2021-05-27T21:45:00', 'jobs.add'], code: 2, stderr: /^Error: You can't specify both --schedule-in and --schedule-at$/ },
    { args: ['--timeout', '0', 'jobs.add'], code: 2, stderr: /^Error: Invalid value for '--timeout': "0"/ },
    { args: ['--result-ttl', 'soon', 'jobs.add'], code: 2, stderr: /^error: option '--result-ttl <seconds>' argument 'soon' is invalid/ },
    { args: ['--retry-max', '-1', 'jobs.add'], code: 2, stderr: /--retry-max/ },
    { args: ['--depends-on', 'no-such-job', 'jobs.add'], code: 1, stderr: /^Error: Cannot enqueue on default: dependency no-such-job does not exist/ },
    { args: ['--depends-on', 'no-such-job', '--schedule-in', '1m', 'jobs.add'], code: 1, stderr: /dependency no-such-job does not exist/ },
    { args: ['--job-id', 'has:colon', 'jobs.add'], code: 1, stderr: /^Error: Job id "has:colon" contains ':'/ },
    { args: ['not a function'], code: 1, stderr: /^Error: Invalid function path "not a function"/ },
    { args: ['-q', 'bad\tqueue', 'jobs.add'], code: 1, stderr: /^Error: Invalid queue name "bad\\tqueue"/ },
    { args: [], code: 2, stderr: /^error: missing required argument 'function'/ },
  ];
  for (const c of cases) {
    it(`rq enqueue ${c.args.join(' ')} -> exit ${c.code}`, async () => {
      const { url, redis } = freshDb();
      const r = await rq(['enqueue', '-u', url, ...c.args]);
      assert.equal(r.code, c.code, describeRun(r));
      assert.equal(r.stdout, '');
      assert.match(linesOf(r.stderr)[0] ?? '', c.stderr, describeRun(r));
      // commander adds its help hint under its own usage errors; ours are one line.
      assert.ok(linesOf(r.stderr).length === 1 || (linesOf(r.stderr).length === 2 && r.stderr.includes('--help')), describeRun(r));
      assert.equal(await redis.dbsize(), 0, 'nothing was written');
    });
  }

  it('a dependency that does not exist next to one that does: nothing written, the existing job untouched', async () => {
    const { url, redis, queue } = freshDb();
    const dep = await queue().enqueue('jobs.add', 1, 1);
    const keysBefore = (await redis.keys('*')).sort();
    const r = await rq(['enqueue', '-u', url, '--depends-on', dep.id, '--depends-on', 'ghost', 'jobs.add']);
    assert.equal(r.code, 1, describeRun(r));
    assert.deepEqual((await redis.keys('*')).sort(), keysBefore);
    assert.equal(await redis.scard(`rq:job:${dep.id}:dependents`), 0);
  });
});
