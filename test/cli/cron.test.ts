/**
 * `rq cron <config>` through the real binary: two schedulers of one config (an `interval: 1` entry
 * and a every-second cron entry) enqueue each slot once, on time, in rq 2.10's scheduler registry
 * (read by 2.10's CronScheduler.all() when vendored); bad configs stop at start naming the entry.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { Job } from '../../lib/index.js';
import { JOBS_TS, describeRun, distIndex, runRq, spawnRq, useCliRedis, type RqProcess } from '../helpers/cli.js';
import { RQ_2, pythonEnv } from '../helpers/python.js';
import { waitFor } from '../helpers/redis.js';

const schedulers = new Set<RqProcess>();
const { projects, freshDb } = useCliRedis({
  beforeStop: async () => {
    for (const p of schedulers) await p.stop('SIGKILL');
  },
});

const CONFIG = `
import { cron } from ${JSON.stringify(distIndex)};
cron.register('jobs.add', 'default', { interval: 1, args: [1, 2] });
cron.register('jobs.noop', 'default', { cron: '* * * * * *', resultTtl: 60 });
`;
const ENQUEUED = /Enqueued job (\S+) to queue default \(slot (\S+), job (\S+)\)/g;

describe('rq cron', () => {
  it('two schedulers enqueue each interval and cron slot once, on schedule', async () => {
    const { url, redis, queue } = freshDb();
    const cwd = projects.make({ 'jobs.ts': JOBS_TS, 'cron.config.ts': CONFIG });
    const started = Date.now();
    const a = spawnRq(['cron', 'cron.config.ts', '-u', url], { cwd, timeoutMs: 120_000 });
    const b = spawnRq(['cron', 'cron.config.ts', '-u', url], { cwd, timeoutMs: 120_000 });
    schedulers.add(a).add(b);
    await waitFor(async () => (await redis.zcard('rq:cron_schedulers')) === 2, 'both schedulers registered', 60_000);
    const names = await redis.zrange('rq:cron_schedulers', '0', '-1');
    for (const name of names) assert.match(name, /^[^:]+:\d+:[0-9a-f]{6}$/, 'rq 2.x scheduler names: host:pid:hex6');

    if (RQ_2.python && spawnSync(RQ_2.python, ['-c', 'import croniter']).status === 0) {
      const r = spawnSync(RQ_2.python, ['-c', `
from redis import Redis
from rq.cron import CronScheduler
for s in CronScheduler.all(Redis.from_url(${JSON.stringify(url)})):
    print(s.name, s.config_file, ' '.join(f'{j.func_name}/{j.interval}/{j.cron}' for j in s.get_jobs()))
`], { encoding: 'utf8', env: pythonEnv(RQ_2), timeout: 60_000 });
      assert.equal(r.status, 0, r.stderr);
      const lines = r.stdout.trim().split('\n').sort();
      assert.deepEqual(lines, [...names].sort().map((n) => `${n} cron.config.ts jobs.add/1/None jobs.noop/None/* * * * * *`));
    } else {
      console.log(`# python-rq 2.10 with croniter not available (${RQ_2.reason}): its CronScheduler.all() not checked`);
    }

    // About 5 s of both running: at least 5 slots of the interval entry.
    await waitFor(async () => (await redis.keys('rq:cron_claim:*')).length >= 10, '10 slots claimed', 60_000);
    for (const p of [a, b]) assert.deepEqual(await p.stop('SIGTERM', 30_000), { code: 0, signal: null }, p.output);
    console.log(`# ran ${Date.now() - started} ms`);
    assert.equal(await redis.zcard('rq:cron_schedulers'), 0, 'both unregistered');

    const logged = [...a.output.matchAll(ENQUEUED), ...b.output.matchAll(ENQUEUED)].map(([, func, slot, id]) => ({ func: func!, slot: Date.parse(slot!), id: id! }));
    const queued = await queue().jobIds();
    assert.deepEqual([...queued].sort(), logged.map((l) => l.id).sort(), 'the queue holds exactly the jobs the schedulers say they enqueued');
    for (const func of ['jobs.add', 'jobs.noop']) {
      const slots = logged.filter((l) => l.func === func).map((l) => l.slot);
      assert.equal(new Set(slots).size, slots.length, `${func}: a slot enqueued twice: ${slots.map((s) => new Date(s).toISOString()).join(', ')}`);
      assert.ok(slots.length >= 3, `${func}: only ${slots.length} slots`);
      for (const s of slots) assert.equal(s % 1000, 0, 'slots fall on whole seconds');
    }
    assert.equal(await redis.keys('rq:cron_claim:*').then((k) => k.length), logged.length, 'one claim per enqueued slot');
    for (const { func, slot, id } of logged) {
      const job = await Job.fetch(id, { connection: redis });
      assert.equal(job.funcName, func);
      const late = job.enqueuedAt!.getTime() - slot;
      // Generous for a busy machine: the point is that a slot is not enqueued before its time, nor much after.
      assert.ok(late >= 0 && late < 3000, `${func} slot ${new Date(slot).toISOString()} enqueued ${late} ms after it`);
      if (func === 'jobs.add') assert.deepEqual(job.args, [1, 2]);
      else assert.equal(job.resultTtl, 60);
    }
  });

  for (const [what, entry, message] of [
    ['an invalid cron expression', "{ cron: '0 25 * * *' }", /cron entry 2 \(jobs\.noop on "default"\): cron "0 25 \* \* \*" is invalid \(.*expected range 0-23\)/],
    ['a cron expression with 4 fields', "{ cron: '* * * *' }", /cron entry 2 \(jobs\.noop on "default"\): cron "\* \* \* \*" has 4 fields; expected 5 fields/],
    ['an interval of 0', '{ interval: 0 }', /cron entry 2 \(jobs\.noop on "default"\): interval 0 is not a whole number of seconds >= 1/],
    ['both interval and cron', "{ interval: 5, cron: '* * * * *' }", /cron entry 2 \(jobs\.noop on "default"\): give interval or cron, not both/],
  ] as const) {
    it(`stops at start with exit 1 on ${what}, naming the entry`, async () => {
      const { url, redis } = freshDb();
      const config = `import { cron } from ${JSON.stringify(distIndex)};\ncron.register('jobs.add', 'default', { interval: 5 });\ncron.register('jobs.noop', 'default', ${entry});\n`;
      const cwd = projects.make({ 'jobs.ts': JOBS_TS, 'bad.config.ts': config });
      const r = await runRq(['cron', 'bad.config.ts', '-u', url], { cwd, timeoutMs: 60_000 });
      assert.equal(r.code, 1, describeRun(r));
      assert.match(r.stderr, /^Error: cron config bad\.config\.ts: /m, describeRun(r));
      assert.match(r.stderr, message, describeRun(r));
      assert.equal(await redis.dbsize(), 0, 'nothing written');
    });
  }
});
