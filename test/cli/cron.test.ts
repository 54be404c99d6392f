/**
 * `rq cron <config>` through the real binary: two schedulers of one config (an `interval: 1` entry
 * and a every-second cron entry) enqueue each slot once, on time, in rq 2.10's scheduler registry
 * (read by 2.10's CronScheduler.all() when vendored); bad configs stop at start naming the entry.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { describe, it } from 'node:test';
import { Job } from '../../lib/index.js';
import { JOBS_TS, describeRun, distIndex, linesOf, runRq, spawnRq, useCliRedis, type RqProcess } from '../helpers/cli.js';
import { RQ_2, pythonEnv, runPython } from '../helpers/python.js';
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

  it('rq info lists the running cron schedulers and their jobs (python-rq 2.10 ones too), not stale ones', async () => {
    const { url, redis } = freshDb();
    const config = `import { cron } from ${JSON.stringify(distIndex)};\ncron.register('jobs.add', 'default', { interval: 3600, args: [1, 2] });\ncron.register('jobs.noop', 'reports', { cron: '0 3 * * *' });\n`;
    const cwd = projects.make({ 'jobs.ts': JOBS_TS, 'cron.config.ts': config });
    const info = async (...extra: string[]): Promise<string[]> => {
      const r = await runRq(['info', '-u', url, ...extra], { cwd, timeoutMs: 60_000 });
      assert.equal(r.code, 0, describeRun(r));
      return linesOf(r.stdout);
    };
    assert.ok(!(await info()).some((l) => l.includes('cron')), 'no cron lines while none runs: the output stays rq 2.10\'s');

    const ours = spawnRq(['cron', 'cron.config.ts', '-u', url], { cwd, timeoutMs: 120_000 });
    schedulers.add(ours);
    await waitFor(async () => (await redis.zcard('rq:cron_schedulers')) === 1, 'the scheduler registered', 60_000);
    const [name] = await redis.zrange('rq:cron_schedulers', '0', '-1');
    // One killed long ago (SIGKILL: it never unregistered): 2.x's CronScheduler.all() drops it, so does rq info.
    await redis.zadd('rq:cron_schedulers', String(Date.now() / 1000 - 600), 'gone:1:abcdef');
    await redis.hset('rq:cron_scheduler:gone:1:abcdef', { name: 'gone:1:abcdef', hostname: 'gone', pid: '1', created_at: '2026-01-01T00:00:00.000000Z', config_file: 'x.py' });
    let python = false;
    if (RQ_2.python && spawnSync(RQ_2.python, ['-c', 'import croniter']).status === 0) {
      // A 2.10 scheduler as its start() registers one (its loop is not needed to be listed).
      runPython(`
import json
from redis import Redis
from rq.cron import CronScheduler
s = CronScheduler(connection=Redis.from_url(${JSON.stringify(url)}), name='py-cron')
s.register(json.dumps, 'maintenance', cron='0 3 * * *')
s.config_file = 'cron_config.py'
s.register_birth()
`, {}, undefined, RQ_2);
      python = true;
    } else {
      console.log(`# python-rq 2.10 with croniter not available (${RQ_2.reason}): its scheduler not listed`);
    }

    const lines = await info();
    const at = (l: string): number => lines.indexOf(l);
    const head = new RegExp(`^${name!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(${hostname()} ${ours.pid}\\): cron scheduler, last heartbeat \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC \\(\\d+ s ago\\), config cron\\.config\\.ts$`);
    const i = lines.findIndex((l) => head.test(l));
    assert.ok(i > 0, `our scheduler's line in:\n${lines.join('\n')}`);
    assert.match(lines[i + 1]!, /^ {2}jobs\.add on default every 3600 s, next \d{4}-\d\d-\d\d \d\d:\d\d:00 UTC, last \d{4}-.* UTC$/);
    assert.match(lines[i + 2]!, /^ {2}jobs\.noop on reports cron '0 3 \* \* \*', next \d{4}-\d\d-\d\d 03:00:00 UTC$/);
    if (python) {
      const j = lines.findIndex((l) => l.startsWith(`py-cron (${hostname()} `));
      assert.match(lines[j] ?? '', /^py-cron \(\S+ \d+\): cron scheduler, last heartbeat .* \(\d+ s ago\), config cron_config\.py$/, lines.join('\n'));
      assert.match(lines[j + 1]!, /^ {2}json\.dumps on maintenance cron '0 3 \* \* \*', next \d{4}-\d\d-\d\d 03:00:00 UTC$/);
    }
    assert.ok(at(`${python ? 2 : 1} cron scheduler${python ? 's' : ''}`) > i, lines.join('\n'));
    assert.ok(!lines.some((l) => l.includes('gone')), 'the stale scheduler is not shown');
    assert.equal(await redis.zscore('rq:cron_schedulers', 'gone:1:abcdef'), null, 'and is dropped from the registry, as 2.x does');

    const raw = await info('--raw');
    assert.ok(raw.some((l) => new RegExp(`^cron_scheduler ${name} ${hostname()} ${ours.pid} \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z cron\\.config\\.ts$`).test(l)), raw.join('\n'));
    assert.ok(raw.includes(`cron_job ${name} jobs.noop reports cron="0 3 * * *" next=${raw.find((l) => l.startsWith(`cron_job ${name} jobs.noop`))!.split('next=')[1]}`));
    assert.ok(raw.some((l) => l.startsWith(`cron_job ${name} jobs.add default interval=3600 next=`)), raw.join('\n'));
    assert.ok((await info('-Q')).every((l) => !l.includes('cron')), '-Q shows only queues');

    assert.deepEqual(await ours.stop('SIGTERM', 30_000), { code: 0, signal: null }, ours.output);
    assert.ok(!(await info()).some((l) => l.startsWith(`${name} `)), 'a scheduler that stopped is no longer listed');
  });

  it('--name names the scheduler; a second one of the same name is refused (exit 1) and leaves the first alone', async () => {
    const { url, redis } = freshDb();
    const config = `import { cron } from ${JSON.stringify(distIndex)};\ncron.register('jobs.noop', 'default', { cron: '0 3 * * *' });\n`;
    const cwd = projects.make({ 'jobs.ts': JOBS_TS, 'cron.config.ts': config });
    const first = spawnRq(['cron', 'cron.config.ts', '-u', url, '--name', 'nightly'], { cwd, timeoutMs: 120_000 });
    schedulers.add(first);
    await waitFor(async () => (await redis.hget('rq:cron_scheduler:nightly', 'pid')) === String(first.pid), 'nightly registered', 60_000);
    assert.deepEqual(await redis.zrange('rq:cron_schedulers', '0', '-1'), ['nightly']);

    const second = await runRq(['cron', 'cron.config.ts', '-u', url, '--name', 'nightly'], { cwd, timeoutMs: 60_000 });
    assert.equal(second.code, 1, describeRun(second));
    assert.match(second.stderr, /^Error: CronScheduler 'nightly' is already registered \(in rq:cron_schedulers\): give each scheduler its own name \(--name\)$/m, describeRun(second));
    assert.equal(await redis.hget('rq:cron_scheduler:nightly', 'pid'), String(first.pid), "the running scheduler's hash is not overwritten");
    assert.deepEqual(await redis.zrange('rq:cron_schedulers', '0', '-1'), ['nightly'], 'nor unregistered');

    const empty = await runRq(['cron', 'cron.config.ts', '-u', url, '--name', ' '], { cwd, timeoutMs: 60_000 });
    assert.equal(empty.code, 2, describeRun(empty));
    assert.match(empty.stderr, /a scheduler name cannot be empty/, describeRun(empty));

    assert.deepEqual(await first.stop('SIGTERM', 30_000), { code: 0, signal: null }, first.output);
    assert.equal(await redis.exists('rq:cron_scheduler:nightly'), 0);
  });
});
