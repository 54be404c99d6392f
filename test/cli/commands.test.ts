/**
 * `rq info`, `rq empty`, `rq requeue`, `rq suspend`, `rq resume` through the real binary
 * (node dist/lib/cli/main.js) against a real redis-server. Each case runs in its own temp folder
 * (so the repo's rq.config.ts does not apply) and its own Redis database, so cases run concurrently.
 * `rq enqueue` is in commands-enqueue.test.ts, python-rq interop in commands-interop.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { epochSeconds, Queue } from '../../lib/index.js';
import { JOBS_TS, cleanEnv, describeRun, distIndex, linesOf, rqBin, runRq, spawnRq, type RqProcess, useCliRedis } from '../helpers/cli.js';
import { startRedis, waitFor } from '../helpers/redis.js';
import { status } from '../helpers/worker.js';

const workers = new Set<RqProcess>();
const { projects, freshDb } = useCliRedis({
  beforeStop: async () => {
    await Promise.all([...workers].map((w) => w.stop('SIGTERM', 5000)));
  },
});

/** `rq <args>` in a fresh temp folder with the test job module, COLUMNS pinned for stable bars. */
function rq(args: string[], env: Record<string, string | undefined> = {}) {
  return runRq(args, { cwd: projects.make({ 'jobs.ts': JOBS_TS }), env: { COLUMNS: '80', ...env }, timeoutMs: 30_000 });
}

/** Our worker, left running on `queues` until the test (or the file) stops it. */
async function startWorker(url: string, redis: Redis, name: string, queues: string[]): Promise<RqProcess> {
  const w = spawnRq(['worker', '-u', url, '-n', name, ...queues], { cwd: projects.make({ 'jobs.ts': JOBS_TS }), timeoutMs: 120_000 });
  workers.add(w);
  await waitFor(async () => (await redis.sismember('rq:workers', `rq:worker:${name}`)) === 1, `worker ${name} to register`, 20_000);
  await waitFor(async () => (await redis.hget(`rq:worker:${name}`, 'state')) === 'idle', `worker ${name} to wait for jobs`, 20_000);
  return w;
}

async function stopWorker(w: RqProcess): Promise<void> {
  const exit = await w.stop('SIGTERM');
  workers.delete(w);
  assert.equal(exit.code, 0, `worker exit: ${JSON.stringify(exit)}\n${w.output}`);
}

/** A job failed by our own worker (`jobs.boom` in burst mode): its id. */
async function failedJob(url: string, queue: Queue, message = 'nope'): Promise<string> {
  const job = await queue.enqueue('jobs.boom', message);
  const r = await rq(['worker', '-b', '-u', url, queue.name]);
  assert.equal(r.code, 0, describeRun(r));
  assert.equal(await status(queue.connection, job.id), 'failed', describeRun(r));
  return job.id;
}

describe('connection settings, as `rq worker` loads them', { concurrency: 4 }, () => {
  it('from -c <module> (REDIS_URL), RQ_REDIS_URL, and rq.config.ts in the working folder; -u wins', async () => {
    const { url, redis } = freshDb();
    const other = freshDb();
    const settings = { 'settings.ts': `export const REDIS_URL = ${JSON.stringify(url)};\n` };
    const fromModule = await runRq(['suspend', '-c', 'settings'], { cwd: projects.make(settings) });
    assert.equal(fromModule.code, 0, describeRun(fromModule));
    assert.equal(await redis.exists('rq:suspended'), 1);
    const fromEnv = await runRq(['resume'], { cwd: projects.make(), env: { RQ_REDIS_URL: url } });
    assert.equal(fromEnv.code, 0, describeRun(fromEnv));
    assert.equal(await redis.exists('rq:suspended'), 0);
    const configFile = { 'rq.config.ts': `export default { REDIS_URL: ${JSON.stringify(url)} };\n` };
    const fromFile = await runRq(['suspend'], { cwd: projects.make(configFile) });
    assert.equal(fromFile.code, 0, describeRun(fromFile));
    assert.equal(await redis.exists('rq:suspended'), 1);
    const flagWins = await runRq(['suspend', '-u', other.url], { cwd: projects.make(configFile), env: { RQ_REDIS_URL: url } });
    assert.equal(flagWins.code, 0, describeRun(flagWins));
    assert.equal(await other.redis.exists('rq:suspended'), 1);
  });

  it('--queue-class / --job-class that do not resolve are usage errors (exit 2) before connecting', async () => {
    for (const args of [['--queue-class', 'nowhere.Queue'], ['--job-class', 'nowhere.Job'], ['-w', 'nowhere.Worker']]) {
      const r = await rq(['info', '-u', 'redis://127.0.0.1:1/0', ...args]);
      assert.equal(r.code, 2, describeRun(r));
      assert.match(r.stderr, /^Error: .*nowhere/);
    }
  });

  it('a custom --queue-class is used by rq empty and rq info', async () => {
    const { url, queue } = freshDb();
    await queue('q').enqueue('jobs.add', 1, 1);
    const cwd = projects.make({
      'myqueue.ts': `import { Queue } from ${JSON.stringify(distIndex)};
export class LoudQueue extends Queue {
  override async empty(): Promise<number> { return 1000 + (await super.empty()); }
}
`,
    });
    const r = await runRq(['empty', '-u', url, '--queue-class', 'myqueue.LoudQueue', 'q'], { cwd });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(r.stdout, '1001 jobs removed from q queue\n');
  });
});

describe('rq suspend / rq resume', { concurrency: 4 }, () => {
  it('suspend sets rq:suspended without a TTL and prints rq\'s message; resume deletes it', async () => {
    const { url, redis } = freshDb();
    const s = await rq(['suspend', '-u', url]);
    assert.equal(s.code, 0, describeRun(s));
    assert.equal(s.stdout, 'Suspending workers.  No new jobs will be started.  But current jobs will be completed\n');
    assert.equal(await redis.get('rq:suspended'), '1');
    assert.equal(await redis.ttl('rq:suspended'), -1, 'suspended forever');
    const r = await rq(['resume', '--url', url]);
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(r.stdout, 'Resuming workers.\n');
    assert.equal(await redis.exists('rq:suspended'), 0);
  });

  it('--duration N sets the key with an expiry of N seconds', async () => {
    const { url, redis } = freshDb();
    const r = await rq(['suspend', '-u', url, '--duration', '120']);
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(r.stdout, 'Suspending workers for 120 seconds.  No new jobs will be started during that time, but then will automatically resume\n');
    const ttl = await redis.ttl('rq:suspended');
    assert.ok(ttl > 100 && ttl <= 120, `TTL ${ttl}`);
  });

  it('a plain suspend after a timed one removes the expiry (suspended until resumed)', async () => {
    const { url, redis } = freshDb();
    assert.equal((await rq(['suspend', '-u', url, '--duration', '60'])).code, 0);
    assert.equal((await rq(['suspend', '-u', url])).code, 0);
    assert.equal(await redis.ttl('rq:suspended'), -1);
  });

  it('--duration 0 and negative durations: rq\'s message, exit 1, nothing written', async () => {
    const { url, redis } = freshDb();
    for (const d of ['0', '-5']) {
      const r = await rq(['suspend', '-u', url, '--duration', d]);
      assert.equal(r.code, 1, describeRun(r));
      assert.equal(r.stderr, 'Duration must be an integer greater than 1\n');
      assert.equal(r.stdout, '');
    }
    assert.equal(await redis.exists('rq:suspended'), 0);
  });

  it('--duration that is not an integer is a usage error (exit 2) naming the option', async () => {
    const { url, redis } = freshDb();
    const r = await rq(['suspend', '-u', url, '--duration', '1.5']);
    assert.equal(r.code, 2, describeRun(r));
    assert.match(r.stderr, /--duration.*'1\.5' is not a valid integer/);
    assert.equal(await redis.exists('rq:suspended'), 0);
  });

  it('a suspended queue system stops `rq worker -b` from starting; after resume it runs the job', async () => {
    const { url, redis, queue } = freshDb();
    const job = await queue().enqueue('jobs.add', 1, 2);
    assert.equal((await rq(['suspend', '-u', url])).code, 0);
    const blocked = await rq(['worker', '-b', '-u', url]);
    assert.equal(blocked.code, 1, describeRun(blocked));
    assert.match(blocked.output, /RQ is currently suspended, to resume job execution run "rq resume"/);
    assert.equal(await status(redis, job.id), 'queued');
    assert.equal((await rq(['resume', '-u', url])).code, 0);
    const ran = await rq(['worker', '-b', '-u', url]);
    assert.equal(ran.code, 0, describeRun(ran));
    assert.equal(await status(redis, job.id), 'finished');
  });

  it('suspend with Redis unreachable exits 1 with one error line', async () => {
    const r = await rq(['suspend', '-u', 'redis://127.0.0.1:1/0']);
    assert.equal(r.code, 1, describeRun(r));
    assert.equal(linesOf(r.stderr).length, 1, describeRun(r));
    assert.match(r.stderr, /^Error: /);
  });
});

describe('rq empty', { concurrency: 4 }, () => {
  it('empties the queues named, deleting the job hashes, and leaves other queues alone', async () => {
    const { url, redis, queue } = freshDb();
    const a = await Promise.all([1, 2, 3].map((i) => queue('a').enqueue('jobs.add', i, i)));
    const b = await queue('b').enqueue('jobs.add', 9, 9);
    const r = await rq(['empty', '-u', url, 'a']);
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(r.stdout, '3 jobs removed from a queue\n');
    assert.equal(await redis.llen('rq:queue:a'), 0);
    for (const job of a) assert.equal(await redis.exists(`rq:job:${job.id}`), 0, 'job hash deleted');
    assert.equal(await redis.llen('rq:queue:b'), 1);
    assert.equal(await status(redis, b.id), 'queued');
  });

  it('-a / --all empties every queue in rq:queues, one line each', async () => {
    const { url, redis, queue } = freshDb();
    await queue('x').enqueue('jobs.add', 1, 1);
    await queue('y').enqueue('jobs.add', 1, 1);
    await queue('y').enqueue('jobs.add', 2, 2);
    const r = await rq(['empty', '-u', url, '--all']);
    assert.equal(r.code, 0, describeRun(r));
    assert.deepEqual(linesOf(r.stdout).sort(), ['1 jobs removed from x queue', '2 jobs removed from y queue']);
    assert.equal((await redis.llen('rq:queue:x')) + (await redis.llen('rq:queue:y')), 0);
    const again = await rq(['empty', '-u', url, '-a']);
    assert.deepEqual(linesOf(again.stdout).sort(), ['0 jobs removed from x queue', '0 jobs removed from y queue']);
  });

  it('no queues (and no --all, or --all with none in Redis): "Nothing to do", exit 0', async () => {
    const { url } = freshDb();
    for (const args of [['empty', '-u', url], ['empty', '-u', url, '-a']]) {
      const r = await rq(args);
      assert.equal(r.code, 0, describeRun(r));
      assert.equal(r.stdout, 'Nothing to do\n');
    }
  });

  it('an invalid queue name among several: error, exit 1, and no queue was emptied', async () => {
    const { url, redis, queue } = freshDb();
    await queue('ok').enqueue('jobs.add', 1, 1);
    const r = await rq(['empty', '-u', url, 'ok', 'bad\tname']);
    assert.equal(r.code, 1, describeRun(r));
    assert.match(r.stderr, /^Error: Invalid queue name "bad\\tname"/);
    assert.equal(await redis.llen('rq:queue:ok'), 1, 'the valid queue was not emptied');
  });
});

describe('rq requeue', { concurrency: 4 }, () => {
  it('requeues failed jobs by id: out of the failed registry, back on the queue, exc_info/started/ended cleared', async () => {
    const { url, redis, queue } = freshDb();
    const id = await failedJob(url, queue('q'));
    const other = await failedJob(url, queue('q'), 'other');
    const r = await rq(['requeue', '-u', url, '--queue', 'q', id]);
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(r.stdout, 'Requeueing 1 jobs from failed queue\n');
    assert.equal(await status(redis, id), 'queued');
    assert.deepEqual(await redis.lrange('rq:queue:q', 0, -1), [id]);
    assert.equal(await redis.zscore('rq:failed:q', id), null);
    assert.notEqual(await redis.zscore('rq:failed:q', other), null, 'the other failed job stays');
    assert.equal(await redis.hget(`rq:job:${id}`, 'started_at'), '');
    assert.equal(await redis.hget(`rq:job:${id}`, 'ended_at'), '');
  });

  it('-a requeues every failed job of the queue; a second run has "Nothing to do"', async () => {
    const { url, redis, queue } = freshDb();
    const ids = [await failedJob(url, queue('q')), await failedJob(url, queue('q'))];
    const r = await rq(['requeue', '-u', url, '--queue', 'q', '--all']);
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(r.stdout, 'Requeueing 2 jobs from failed queue\n');
    assert.deepEqual((await redis.lrange('rq:queue:q', 0, -1)).sort(), [...ids].sort());
    assert.equal(await redis.zcard('rq:failed:q'), 0);
    const again = await rq(['requeue', '-u', url, '--queue', 'q', '-a']);
    assert.equal(again.code, 0, describeRun(again));
    assert.equal(again.stdout, 'Nothing to do\n');
  });

  it('a requeued job runs again: our worker fails it a second time (same job, new result)', async () => {
    const { url, redis, queue } = freshDb();
    const id = await failedJob(url, queue('q'));
    assert.equal((await rq(['requeue', '-u', url, '--queue', 'q', id])).code, 0);
    const r = await rq(['worker', '-b', '-u', url, 'q']);
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(await status(redis, id), 'failed');
    assert.equal(await redis.xlen(`rq:results:${id}`), 2, 'two failure results: it ran twice');
  });

  it('an id not in the failed registry: one error line naming it, exit 1, and nothing requeued', async () => {
    const { url, redis, queue } = freshDb();
    const id = await failedJob(url, queue('q'));
    const queued = await queue('q').enqueue('jobs.add', 1, 2);
    for (const bogus of ['no-such-job', queued.id]) {
      const r = await rq(['requeue', '-u', url, '--queue', 'q', id, bogus]);
      assert.equal(r.code, 1, describeRun(r));
      assert.equal(r.stdout, '', 'no "Requeueing" line');
      assert.equal(linesOf(r.stderr).length, 1, describeRun(r));
      assert.match(r.stderr, new RegExp(`^Error: Unable to requeue 1 jobs from failed job registry: ${bogus} \\(not in rq:failed:q\\); nothing was requeued`));
      assert.notEqual(await redis.zscore('rq:failed:q', id), null, 'the valid id was not requeued either');
      assert.equal(await status(redis, id), 'failed');
    }
    assert.deepEqual(await redis.lrange('rq:queue:q', 0, -1), [queued.id]);
  });

  it('a failed entry whose job hash is gone is reported as such (exit 1)', async () => {
    const { url, redis, queue } = freshDb();
    const id = await failedJob(url, queue('q'));
    await redis.del(`rq:job:${id}`);
    const r = await rq(['requeue', '-u', url, '--queue', 'q', id]);
    assert.equal(r.code, 1, describeRun(r));
    assert.match(r.stderr, new RegExp(`${id} \\(its job hash is gone\\)`));
  });

  it('an unknown queue (not in rq:queues, no failed registry): error, exit 1, even with --all', async () => {
    const { url, queue } = freshDb();
    await queue('known').enqueue('jobs.add', 1, 1);
    for (const args of [['some-id'], ['--all']]) {
      const r = await rq(['requeue', '-u', url, '--queue', 'unknown', ...args]);
      assert.equal(r.code, 1, describeRun(r));
      assert.equal(r.stderr, 'Error: Unknown queue "unknown": it is not in rq:queues and has no failed jobs (rq:failed:unknown does not exist)\n');
    }
  });

  it('a known queue with no ids and no --all: "Nothing to do", exit 0', async () => {
    const { url, queue } = freshDb();
    await queue('known').enqueue('jobs.add', 1, 1);
    const r = await rq(['requeue', '-u', url, '--queue', 'known']);
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(r.stdout, 'Nothing to do\n');
  });

  it('--queue is required (usage error, exit 2)', async () => {
    const { url } = freshDb();
    const r = await rq(['requeue', '-u', url, 'some-id']);
    assert.equal(r.code, 2, describeRun(r));
    assert.match(r.stderr, /required option '--queue <name>' not specified/);
  });
});

describe('rq info', { concurrency: 4 }, () => {
  it('queues with bars and counts, sorted, the footers and the Updated line; plain when piped', async () => {
    const { url, queue } = freshDb();
    for (let i = 0; i < 4; i++) await queue('default').enqueue('jobs.add', i, i);
    await queue('low').enqueue('jobs.add', 1, 1);
    const r = await rq(['info', '-u', url]);
    assert.equal(r.code, 0, describeRun(r));
    const lines = r.stdout.split('\n');
    assert.deepEqual(lines.slice(0, 6), ['default      |████ 4', 'low          |█ 1', '2 queues, 5 jobs total', '', '0 workers, 2 queues', '']);
    assert.match(lines[6]!, /^Updated: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);
    assert.doesNotMatch(r.stdout, /\x1b\[/, 'no colour codes when stdout is not a terminal');
  });

  it('bars scale like rq (20 columns up to 20 jobs, then scales 50, 100, ...) and shrink on narrow terminals', async () => {
    const { url, redis } = freshDb();
    const many = Array.from({ length: 50 }, (_, i) => `id${i}`);
    await redis.rpush('rq:queue:big', ...many);
    await redis.rpush('rq:queue:small', 'a', 'b', 'c', 'd', 'e');
    await redis.sadd('rq:queues', 'rq:queue:big', 'rq:queue:small');
    const r = await rq(['info', '-u', url, '-Q']);
    assert.deepEqual(linesOf(r.stdout), [`big          |${'█'.repeat(20)} 50`, `small        |${'█'.repeat(2)} 5`, '2 queues, 55 jobs total']);
    const narrow = await rq(['info', '-u', url, '-Q'], { COLUMNS: '30' });
    assert.equal(linesOf(narrow.stdout)[0], `big          |${'█'.repeat(10)} 50`);
  });

  it('-r prints raw lines only: "queue <name> <count>" and "worker ..." lines, no footers', async () => {
    const { url, redis, queue } = freshDb();
    await queue('a').enqueue('jobs.add', 1, 1);
    await queue('b').enqueue('jobs.add', 1, 1);
    await queue('b').enqueue('jobs.add', 2, 2);
    const w = await startWorker(url, redis, 'rawworker', ['w', 'z']);
    try {
      const r = await rq(['info', '-u', url, '--raw', 'a', 'b', 'w']);
      assert.equal(r.code, 0, describeRun(r));
      const hostname = await redis.hget('rq:worker:rawworker', 'hostname');
      const ip = await redis.hget('rq:worker:rawworker', 'ip_address');
      assert.deepEqual(linesOf(r.stdout), ['queue a 1', 'queue b 2', 'queue w 0', `worker rawworker (${hostname} ${ip} ${w.pid}) idle w, z`]);
    } finally {
      await stopWorker(w);
    }
  });

  it('lists our running worker with host, ip, pid, state and queues, idle then busy', async () => {
    const { url, redis, queue } = freshDb();
    const w = await startWorker(url, redis, 'infoworker', ['high', 'low']);
    try {
      const hostname = await redis.hget('rq:worker:infoworker', 'hostname');
      const ip = await redis.hget('rq:worker:infoworker', 'ip_address');
      assert.match(ip ?? '', /^127\.0\.0\.1:\d+$/);
      const idle = await rq(['info', '-u', url, '-W']);
      assert.equal(idle.code, 0, describeRun(idle));
      assert.deepEqual(linesOf(idle.stdout), [`infoworker (${hostname} ${ip} ${w.pid}): idle high, low`, '1 workers, 0 queues']);
      // A job that holds until released makes the worker busy.
      const job = await queue('high').enqueue('jobs.hold', 'release');
      await waitFor(async () => (await redis.hget('rq:worker:infoworker', 'state')) === 'busy', 'worker busy');
      const busy = await rq(['info', '-u', url, '-W']);
      assert.deepEqual(linesOf(busy.stdout), [`infoworker (${hostname} ${ip} ${w.pid}): busy high, low`, '1 workers, 1 queues']);
      await redis.rpush('release', 'go');
      await waitFor(async () => (await status(redis, job.id)) === 'finished', 'held job to finish');
    } finally {
      await stopWorker(w);
    }
    const gone = await rq(['info', '-u', url, '-W']);
    assert.deepEqual(linesOf(gone.stdout), ['0 workers, 1 queues'], 'a stopped worker is not listed');
  });

  it('with queues, only their workers are shown (rq:workers:<q>); without any queue, every worker', async () => {
    const { url, redis, queue } = freshDb();
    const w1 = await startWorker(url, redis, 'wone', ['one']);
    const w2 = await startWorker(url, redis, 'wtwo', ['two']);
    try {
      const names = (out: string): string[] => linesOf(out).filter((l) => / \(.*\): /.test(l)).map((l) => l.split(' ')[0]!);
      const none = await rq(['info', '-u', url, '-W']);
      assert.deepEqual(names(none.stdout), ['wone', 'wtwo'], 'no queues in rq:queues: all workers');
      const onlyOne = await rq(['info', '-u', url, '-W', 'one']);
      assert.deepEqual(names(onlyOne.stdout), ['wone']);
      assert.equal(linesOf(onlyOne.stdout).at(-1), '1 workers, 1 queues');
      await queue('two').enqueue('jobs.hold', 'never');
      await waitFor(async () => (await redis.hget('rq:worker:wtwo', 'state')) === 'busy', 'wtwo busy');
      const known = await rq(['info', '-u', url, '-W']);
      assert.deepEqual(names(known.stdout), ['wtwo'], 'rq:queues = {two}: only its workers (§6 step 3)');
    } finally {
      await redis.rpush('never', 'x');
      await stopWorker(w1);
      await stopWorker(w2);
    }
  });

  it('-R shows workers by queue, "–" for a queue without workers; footer counts distinct workers', async () => {
    const { url, redis } = freshDb();
    const w1 = await startWorker(url, redis, 'ra', ['foo', 'bar']);
    const w2 = await startWorker(url, redis, 'rb', ['foo']);
    try {
      const r = await rq(['info', '-u', url, '-R', '-W', 'foo', 'bar', 'bazqux']);
      assert.equal(r.code, 0, describeRun(r));
      assert.deepEqual(linesOf(r.stdout), ['foo:    ra (idle), rb (idle)', 'bar:    ra (idle)', 'bazqux: –', '2 workers, 3 queues']);
      const raw = await rq(['info', '-u', url, '-R', '-r', 'foo']);
      assert.deepEqual(linesOf(raw.stdout), ['queue foo 0', 'foo: ra (idle), rb (idle)']);
    } finally {
      await stopWorker(w1);
      await stopWorker(w2);
    }
  });

  it('-Q shows queues only; -W workers only', async () => {
    const { url, queue } = freshDb();
    await queue('q').enqueue('jobs.add', 1, 1);
    const q = await rq(['info', '-u', url, '--only-queues']);
    assert.deepEqual(linesOf(q.stdout), ['q            |█ 1', '1 queues, 1 jobs total']);
    const w = await rq(['info', '-u', url, '--only-workers']);
    assert.deepEqual(linesOf(w.stdout), ['0 workers, 1 queues']);
  });

  it('empty Redis: rq 1.13\'s "0 queues, 0 jobs total" and "0 workers, 0 queues"', async () => {
    const { url } = freshDb();
    const r = await rq(['info', '-u', url]);
    assert.equal(r.code, 0, describeRun(r));
    assert.deepEqual(linesOf(r.stdout).slice(0, 2), ['0 queues, 0 jobs total', '0 workers, 0 queues']);
  });

  it('cleans registries without taking the maintenance lock: an expired started job moves to failed', async () => {
    const { url, redis, queue } = freshDb();
    const job = await queue('q').enqueue('jobs.add', 1, 1);
    // What a worker that died mid-job leaves: the job started, its wip entry's heartbeat deadline passed.
    await redis.lrem('rq:queue:q', 0, job.id);
    await redis.hset(`rq:job:${job.id}`, 'status', 'started');
    await redis.zadd('rq:wip:q', epochSeconds() - 10, job.id);
    await redis.zadd('rq:finished:q', epochSeconds() - 10, 'old-finished');
    await redis.zadd('rq:failed:q', epochSeconds() - 10, 'old-failed');
    const r = await rq(['info', '-u', url, '-Q']);
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(await redis.zscore('rq:wip:q', job.id), null);
    assert.notEqual(await redis.zscore('rq:failed:q', job.id), null, 'moved to the FailedJobRegistry');
    assert.equal(await status(redis, job.id), 'failed');
    assert.equal(await redis.zscore('rq:finished:q', 'old-finished'), null, 'expired finished entry dropped');
    assert.equal(await redis.zscore('rq:failed:q', 'old-failed'), null, 'expired failed entry dropped');
    assert.equal(await redis.exists('rq:clean_registries:q'), 0, 'the maintenance lock was not taken');
  });

  it('drops dead worker keys from rq:workers:<q> and rq:workers, and does not list them', async () => {
    const { url, redis, queue } = freshDb();
    await queue('q').enqueue('jobs.add', 1, 1);
    await redis.sadd('rq:workers', 'rq:worker:ghost');
    await redis.sadd('rq:workers:q', 'rq:worker:ghost');
    const r = await rq(['info', '-u', url]);
    assert.equal(r.code, 0, describeRun(r));
    assert.ok(linesOf(r.stdout).includes('0 workers, 1 queues'), describeRun(r));
    assert.equal(await redis.sismember('rq:workers:q', 'rq:worker:ghost'), 0);
    assert.equal(await redis.sismember('rq:workers', 'rq:worker:ghost'), 0);
  });

  it('a member of rq:queues that is not a queue key is an error (exit 1), as rq raises', async () => {
    const { url, redis } = freshDb();
    await redis.sadd('rq:queues', 'not-a-queue-key');
    const r = await rq(['info', '-u', url]);
    assert.equal(r.code, 1, describeRun(r));
    assert.match(r.stderr, /^Error: rq:queues holds "not-a-queue-key", which is not a queue key/);
  });

  it('-i N refreshes (plain repeated output when piped) and shows new jobs; SIGINT ends it with exit 0', async () => {
    const { url, queue } = freshDb();
    await queue('live').enqueue('jobs.add', 1, 1);
    const p = spawnRq(['info', '-u', url, '-Q', '-i', '0.2'], { cwd: projects.make(), env: { COLUMNS: '80' }, timeoutMs: 30_000 });
    try {
      await p.waitForOutput('live         |█ 1');
      await queue('live').enqueue('jobs.add', 2, 2);
      await p.waitForOutput('live         |██ 2');
      const frames = p.stdout.split('1 queues, ').length - 1;
      assert.ok(frames >= 2, `at least two refreshes: ${p.stdout}`);
      assert.doesNotMatch(p.stdout, /\x1b\[2J/, 'no screen clearing when piped');
    } finally {
      const exit = await p.stop('SIGINT');
      assert.deepEqual(exit, { code: 0, signal: null }, p.output);
    }
    assert.ok(p.stdout.endsWith('\n\n'), 'rq prints an empty line on Ctrl-C');
  });

  it('-i: Ctrl-C still ends it (exit 0) when Redis went away mid-refresh', async () => {
    const own = await startRedis();
    try {
      const p = spawnRq(['info', '-u', own.url, '-Q', '-i', '0.1'], { cwd: projects.make(), timeoutMs: 30_000 });
      await p.waitForOutput('0 queues, 0 jobs total');
      await own.stop();
      await new Promise((r) => setTimeout(r, 300));
      const exit = await p.stop('SIGINT', 10_000);
      assert.deepEqual(exit, { code: 0, signal: null }, p.output);
    } finally {
      await own.stop();
    }
  });

  it('bad -i values and unknown options are usage errors (exit 2)', async () => {
    const { url } = freshDb();
    for (const args of [['-i', 'soon'], ['-i', '-1'], ['--bogus']]) {
      const r = await rq(['info', '-u', url, ...args]);
      assert.equal(r.code, 2, describeRun(r));
      assert.match(r.stderr, /^error: /);
    }
  });

  it('Redis unreachable: one error line, exit 1', async () => {
    const r = await rq(['info', '-u', 'redis://127.0.0.1:1/0']);
    assert.equal(r.code, 1, describeRun(r));
    assert.equal(linesOf(r.stderr).length, 1, describeRun(r));
  });
});

/** `script` gives the child a pseudo-terminal, so stdout.isTTY is true as in a shell. */
const SCRIPT = spawnSync('script', ['--version'], { encoding: 'utf8' });
const noScript = SCRIPT.error || SCRIPT.status !== 0 ? 'util-linux `script` is not installed (needed for a pseudo-terminal)' : false;

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command `script` runs for `rq <args>`. `exec` makes rq the direct child of `script` whatever $SHELL is:
 * dash (CI's /bin/sh when SHELL is unset) forks instead, and a signal meant for rq then reaches the shell.
 */
function ttyCommand(args: string[]): string[] {
  return ['-qefc', `exec ${[process.execPath, rqBin, ...args].map(shellQuote).join(' ')}`, '/dev/null'];
}

/** Runs `rq <args>` on a pseudo-terminal (via `script`). */
function onTerminal(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('script', ttyCommand(args), {
    cwd: projects.make(),
    encoding: 'utf8',
    timeout: 30_000,
    killSignal: 'SIGKILL',
    env: cleanEnv({ COLUMNS: '80', TERM: 'xterm' }),
  });
  return { status: r.status, out: r.stdout };
}

describe('rq info on a terminal', { concurrency: 2, skip: noScript }, () => {
  it('colours bars and states as rq does (green bars, green idle)', async () => {
    const { url, redis, queue } = freshDb();
    await queue('q').enqueue('jobs.add', 1, 1);
    const w = await startWorker(url, redis, 'ttyworker', ['w']);
    try {
      const r = onTerminal(['info', '-u', url, 'q', 'w']);
      assert.equal(r.status, 0, r.out);
      assert.ok(r.out.includes('q            \x1b[32m|█\x1b[0m 1\r\n'), JSON.stringify(r.out));
      assert.ok(r.out.includes('w            \x1b[32m|\x1b[0m 0\r\n'), JSON.stringify(r.out));
      assert.ok(r.out.includes(`ttyworker (`) && r.out.includes(`${w.pid}): \x1b[32midle\x1b[0m w\r\n`), JSON.stringify(r.out));
    } finally {
      await stopWorker(w);
    }
  });

  it('rq enqueue prints the call in blue, as rq\'s colorizer does', async () => {
    const { url } = freshDb();
    const r = onTerminal(['enqueue', '-u', url, '--job-id', 'tty', 'jobs.add', ':1', ':2']);
    assert.equal(r.status, 0, r.out);
    assert.equal(r.out, "Enqueued \x1b[34mjobs.add(1, 2)\x1b[39;49;00m with job-id 'tty'.\r\n");
  });

  it('-i redraws in place (ANSI clear before each refresh) and SIGINT exits 0', async () => {
    const { url, queue } = freshDb();
    await queue('q').enqueue('jobs.add', 1, 1);
    // On a pseudo-terminal; SIGINT once two redraws are out (waited for, not timed: a loaded machine is slow).
    // SHELL=/bin/sh: the same shell as a CI machine without $SHELL, so a missing `exec` shows here too.
    const child = spawn('script', ttyCommand(['info', '-u', url, '-Q', '-i', '0.2']), { cwd: projects.make(), env: cleanEnv({ COLUMNS: '80', TERM: 'xterm', SHELL: '/bin/sh' }), stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    let code: number | null | undefined;
    child.once('close', (c) => (code = c));
    const clears = (): number => out.split('\x1b[2J\x1b[1;1H').length - 1;
    try {
      await waitFor(() => clears() >= 2, `two redraws (output: ${JSON.stringify(out)})`, 20_000);
      const under = spawnSync('ps', ['-o', 'pid=,args=', '--ppid', String(child.pid)], { encoding: 'utf8', timeout: 5000 }).stdout.trim();
      const rq = under.split('\n').find((l) => l.includes(rqBin));
      assert.ok(rq, `rq is the child of script (found: ${JSON.stringify(under)})`);
      process.kill(Number(rq.trim().split(/\s+/)[0]), 'SIGINT');
      await waitFor(() => code !== undefined, `rq to exit on SIGINT (output: ${JSON.stringify(out)})`, 20_000);
      assert.equal(code, 0, out);
    } finally {
      child.kill('SIGKILL');
    }
    assert.ok(out.includes('\x1b[32m|█\x1b[0m 1'), JSON.stringify(out));
  });
});
