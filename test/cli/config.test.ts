/**
 * `rq worker` settings: where they come from (-u, -c, RQ_CONFIG, cosmiconfig discovery, environment),
 * their precedence (flag > config file > environment > default) and every config key, through the
 * real binary against real redis-servers.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { connect, Queue } from '../../lib/index.js';
import { DEFAULT_LOG_LINE, JOBS_TS, Projects, describeRun, distIndex, linesOf, runRq, spawnRq, waitUntilWaiting } from '../helpers/cli.js';
import { startRedis, waitFor, type RedisServer } from '../helpers/redis.js';
import { excText, returnValue, status } from '../helpers/worker.js';

let server: RedisServer;
/** A server that needs a password (`secret`), and has an ACL user `alice` (password `wonderland`). */
let locked: RedisServer;
const projects = new Projects();
const clients: Redis[] = [];
let lastDb = 0;

before(async () => {
  [server, locked] = await Promise.all([startRedis(['--databases', '64']), startRedis(['--requirepass', 'secret', '--databases', '64'])]);
  const admin = connect({ host: '127.0.0.1', port: locked.port, password: 'secret' });
  clients.push(admin);
  await admin.call('ACL', 'SETUSER', 'alice', 'on', '>wonderland', '~*', '&*', '+@all');
});
after(async () => {
  for (const c of clients) c.disconnect();
  projects.cleanup();
  await Promise.all([server.stop(), locked.stop()]);
});

interface Db {
  db: number;
  url: string;
  redis: Redis;
  queue: (name?: string) => Queue;
}

function track(db: number, redis: Redis, url: string): Db {
  clients.push(redis);
  return { db, url, redis, queue: (name = 'default') => new Queue(name, { connection: redis }) };
}

/** A database of its own on the plain server. */
function freshDb(): Db {
  const db = ++lastDb;
  const url = `${server.url}/${db}`;
  return track(db, connect(url), url);
}

/** A database of its own on the password-protected server (client authenticated as the default user). */
function lockedDb(): Db {
  const db = ++lastDb;
  return track(db, connect({ host: '127.0.0.1', port: locked.port, db, password: 'secret' }), `redis://:secret@127.0.0.1:${locked.port}/${db}`);
}

async function assertTtl(redis: Redis, key: string, expected: number, slack = 6): Promise<void> {
  const ttl = await redis.ttl(key);
  assert.ok(ttl <= expected && ttl > expected - slack, `TTL of ${key} is ${ttl}, expected about ${expected}`);
}

/** Settings as a TypeScript module of upper-case named exports (Python's settings.py style). */
function settingsModule(settings: Record<string, unknown>): string {
  return Object.entries(settings)
    .map(([k, v]) => `export const ${k} = ${JSON.stringify(v)};\n`)
    .join('');
}

describe('rq worker: where the connection and settings come from', { concurrency: 4 }, () => {
  it('-u/--url with a database number: the worker and its horse use that database', async () => {
    const { url, redis, queue, db } = freshDb();
    const job = await queue().enqueue('jobs.add', 2, 3);
    const other = connect(server.url);
    clients.push(other);
    const r = await runRq(['worker', '-b', '-u', url, '-n', `db${db}`], { cwd: projects.make({ 'jobs.ts': JOBS_TS }) });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(await returnValue(redis, job.id), 5);
    assert.equal(await redis.exists(`rq:worker:db${db}`), 1, 'the worker registered in its database');
    assert.equal(await other.exists(`rq:worker:db${db}`), 0, 'and not in database 0');
  });

  it('RQ_REDIS_URL in the environment', async () => {
    const { url, redis, queue } = freshDb();
    const job = await queue().enqueue('jobs.add', 2, 3);
    const r = await runRq(['worker', '-b'], { cwd: projects.make({ 'jobs.ts': JOBS_TS }), env: { RQ_REDIS_URL: url } });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(await returnValue(redis, job.id), 5);
  });

  it('the connection settings come as one group from the highest source that sets any: flag > file > environment, and the first line says which', async () => {
    const { url, redis, queue, db } = freshDb();
    const port = Number(new URL(server.url).port);
    // Nothing listens on port 1: a worker that took the environment's URL over the file's host and port would fail.
    const strayEnv = { REDIS_URL: 'redis://127.0.0.1:1/0' };
    const dir = projects.make({ 'jobs.ts': JOBS_TS, 'settings.ts': settingsModule({ REDIS_HOST: '127.0.0.1', REDIS_PORT: port, REDIS_DB: db }) });
    const job = await queue().enqueue('jobs.add', 2, 3);
    const fromFile = await runRq(['worker', '-b', '-c', 'settings'], { cwd: dir, env: strayEnv });
    assert.equal(fromFile.code, 0, describeRun(fromFile));
    assert.equal(await returnValue(redis, job.id), 5);
    assert.match(linesOf(fromFile.output)[0]!, new RegExp(`Redis: redis://127\\.0\\.0\\.1:${port}/${db} \\(from REDIS_HOST, REDIS_PORT, REDIS_DB in .*settings(\\.ts)?\\)$`));

    const fromEnv = await runRq(['worker', '-b'], { cwd: projects.make({ 'jobs.ts': JOBS_TS }), env: { RQ_REDIS_URL: `redis://:hush@${url.slice('redis://'.length)}` } });
    assert.equal(fromEnv.code, 0, describeRun(fromEnv));
    assert.match(fromEnv.output, new RegExp(`Redis: redis://127\\.0\\.0\\.1:${port}/${db} \\(from the environment \\(REDIS_URL\\)\\)`));
    assert.ok(!fromEnv.output.includes('hush'), `no password in the output: ${fromEnv.output}`);

    const flagged = await runRq(['worker', '-b', '-c', 'settings', '-u', url], { cwd: dir, env: { REDIS_HOST: 'nowhere.invalid' } });
    assert.equal(flagged.code, 0, describeRun(flagged));
    assert.match(flagged.output, new RegExp(`Redis: redis://127\\.0\\.0\\.1:${port}/${db} \\(from the --url flag\\)`));
  });

  it('-c settings loads settings.ts by dotted path: REDIS_URL, QUEUES and NAME', async () => {
    const { url, redis, queue } = freshDb();
    const job = await queue('two').enqueue('jobs.add', 2, 3);
    const dir = projects.make({ 'jobs.ts': JOBS_TS, 'settings.ts': settingsModule({ REDIS_URL: url, QUEUES: ['one', 'two'], NAME: 'from-settings' }) });
    for (const flag of ['-c']) {
      const r = await runRq(['worker', '-b', flag, 'settings'], { cwd: dir });
      assert.equal(r.code, 0, describeRun(r));
      assert.ok(r.output.includes('Worker rq:worker:from-settings: started'), describeRun(r));
      assert.ok(r.output.includes('*** Listening for work on one, two\n'), describeRun(r));
    }
    assert.equal(await returnValue(redis, job.id), 5);
  });

  it('--config app.settings loads app/settings.ts', async () => {
    const { url, redis, queue } = freshDb();
    const job = await queue().enqueue('jobs.add', 2, 3);
    const dir = projects.make({ 'jobs.ts': JOBS_TS, 'app/settings.ts': settingsModule({ REDIS_URL: url, NAME: 'app-settings' }) });
    const r = await runRq(['worker', '-b', '--config', 'app.settings'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    assert.ok(r.output.includes('rq:worker:app-settings'), describeRun(r));
    assert.equal(await returnValue(redis, job.id), 5);
  });

  it('-c with `export default defineConfig({...})`', async () => {
    const { url, redis, queue } = freshDb();
    const job = await queue('dq').enqueue('jobs.add', 2, 3);
    const dir = projects.make({
      'jobs.ts': JOBS_TS,
      'conf.ts': `import { defineConfig } from ${JSON.stringify(distIndex)};\nexport default defineConfig({ REDIS_URL: ${JSON.stringify(url)}, QUEUES: ['dq'], NAME: 'defined' });\n`,
    });
    const r = await runRq(['worker', '-b', '-c', 'conf'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    assert.ok(r.output.includes('rq:worker:defined'), describeRun(r));
    assert.equal(await returnValue(redis, job.id), 5);
  });

  it('-c with a .js settings module (ESM syntax, and CommonJS module.exports)', async () => {
    const { url, redis, queue } = freshDb();
    const dir = projects.make({
      'jobs.ts': JOBS_TS,
      'esm_settings.js': `export const REDIS_URL = ${JSON.stringify(url)};\nexport const NAME = 'js-esm';\n`,
      'cjs_settings.cjs': `module.exports = { REDIS_URL: ${JSON.stringify(url)}, NAME: 'js-cjs' };\n`,
    });
    for (const [mod, name] of [['esm_settings', 'js-esm'], ['cjs_settings', 'js-cjs']] as const) {
      const job = await queue().enqueue('jobs.add', 2, 3);
      const r = await runRq(['worker', '-b', '-c', mod], { cwd: dir });
      assert.equal(r.code, 0, describeRun(r));
      assert.ok(r.output.includes(`rq:worker:${name}`), describeRun(r));
      assert.equal(await returnValue(redis, job.id), 5);
    }
  });

  it('-c with a file path (relative .ts, and .json)', async () => {
    const { url, redis, queue } = freshDb();
    const dir = projects.make({
      'jobs.ts': JOBS_TS,
      'conf/worker.ts': settingsModule({ REDIS_URL: url, NAME: 'by-file' }),
      'conf/worker.json': JSON.stringify({ REDIS_URL: url, NAME: 'by-json' }),
    });
    for (const [file, name] of [['conf/worker.ts', 'by-file'], ['conf/worker.json', 'by-json']] as const) {
      const job = await queue().enqueue('jobs.add', 2, 3);
      const r = await runRq(['worker', '-b', '-c', file], { cwd: dir });
      assert.equal(r.code, 0, describeRun(r));
      assert.ok(r.output.includes(`rq:worker:${name}`), describeRun(r));
      assert.equal(await returnValue(redis, job.id), 5);
    }
  });

  it('RQ_CONFIG in the environment names the settings module', async () => {
    const { url, redis, queue } = freshDb();
    const job = await queue().enqueue('jobs.add', 2, 3);
    const dir = projects.make({ 'jobs.ts': JOBS_TS, 'envsettings.ts': settingsModule({ REDIS_URL: url, NAME: 'rq-config-env' }) });
    const r = await runRq(['worker', '-b'], { cwd: dir, env: { RQ_CONFIG: 'envsettings' } });
    assert.equal(r.code, 0, describeRun(r));
    assert.ok(r.output.includes('rq:worker:rq-config-env'), describeRun(r));
    assert.equal(await returnValue(redis, job.id), 5);
  });

  it('-c wins over RQ_CONFIG', async () => {
    const { url } = freshDb();
    const dir = projects.make({ 'a.ts': settingsModule({ REDIS_URL: url, NAME: 'from-flag' }), 'b.ts': settingsModule({ REDIS_URL: url, NAME: 'from-env' }) });
    const r = await runRq(['worker', '-b', '-c', 'a'], { cwd: dir, env: { RQ_CONFIG: 'b' } });
    assert.equal(r.code, 0, describeRun(r));
    assert.ok(r.output.includes('rq:worker:from-flag'), describeRun(r));
  });

  it('without -c, rq.config.ts in the cwd is found (cosmiconfig)', async () => {
    const { url, redis, queue } = freshDb();
    const job = await queue('cq').enqueue('jobs.add', 2, 3);
    const dir = projects.make({
      'jobs.ts': JOBS_TS,
      'rq.config.ts': `import { defineConfig } from ${JSON.stringify(distIndex)};\nexport default defineConfig({ REDIS_URL: ${JSON.stringify(url)}, QUEUES: ['cq'], NAME: 'discovered-ts' });\n`,
    });
    const r = await runRq(['worker', '-b'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    assert.ok(r.output.includes('rq:worker:discovered-ts'), describeRun(r));
    assert.ok(r.output.includes('*** Listening for work on cq\n'), describeRun(r));
    assert.equal(await returnValue(redis, job.id), 5);
  });

  it('without -c, .rqrc.json in the cwd is found', async () => {
    const { url, redis, queue } = freshDb();
    const job = await queue().enqueue('jobs.add', 2, 3);
    const dir = projects.make({ 'jobs.ts': JOBS_TS, '.rqrc.json': JSON.stringify({ REDIS_URL: url, NAME: 'discovered-rc' }) });
    const r = await runRq(['worker', '-b'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    assert.ok(r.output.includes('rq:worker:discovered-rc'), describeRun(r));
    assert.equal(await returnValue(redis, job.id), 5);
  });

  it('without -c, the "rq" key of package.json in the cwd is found', async () => {
    const { url, redis, queue } = freshDb();
    const job = await queue().enqueue('jobs.add', 2, 3);
    const dir = projects.make({
      'jobs.ts': JOBS_TS,
      'package.json': JSON.stringify({ name: 'some-app', version: '1.0.0', rq: { REDIS_URL: url, NAME: 'discovered-pkg' } }),
    });
    const r = await runRq(['worker', '-b'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    assert.ok(r.output.includes('rq:worker:discovered-pkg'), describeRun(r));
    assert.equal(await returnValue(redis, job.id), 5);
  });

  it('-c replaces the discovered rq.config.ts', async () => {
    const { url } = freshDb();
    const dir = projects.make({
      'rq.config.ts': settingsModule({ REDIS_URL: url, NAME: 'discovered' }),
      'explicit.ts': settingsModule({ REDIS_URL: url, NAME: 'explicit' }),
    });
    const r = await runRq(['worker', '-b', '-c', 'explicit'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    assert.ok(r.output.includes('rq:worker:explicit'), describeRun(r));
  });

  it('REDIS_HOST, REDIS_PORT, REDIS_DB and REDIS_PASSWORD config keys (password-protected server; the horse connects too)', async () => {
    const { db, redis, queue } = lockedDb();
    const job = await queue().enqueue('jobs.add', 2, 3);
    const dir = projects.make({
      'jobs.ts': JOBS_TS,
      'settings.ts': settingsModule({ REDIS_HOST: '127.0.0.1', REDIS_PORT: locked.port, REDIS_DB: db, REDIS_PASSWORD: 'secret', NAME: 'keys' }),
    });
    const r = await runRq(['worker', '-b', '-c', 'settings'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(await returnValue(redis, job.id), 5);
    assert.equal(await redis.exists('rq:worker:keys'), 1);
  });

  it('REDIS_HOST, REDIS_PORT, REDIS_DB, REDIS_PASSWORD as plain environment variables (and RQ_-prefixed)', async () => {
    const { db, redis, queue } = lockedDb();
    const dir = projects.make({ 'jobs.ts': JOBS_TS });
    const plain = { REDIS_HOST: '127.0.0.1', REDIS_PORT: String(locked.port), REDIS_DB: String(db), REDIS_PASSWORD: 'secret' };
    const prefixed = Object.fromEntries(Object.entries(plain).map(([k, v]) => [`RQ_${k}`, v]));
    for (const env of [plain, prefixed]) {
      const job = await queue().enqueue('jobs.add', 2, 3);
      const r = await runRq(['worker', '-b'], { cwd: dir, env });
      assert.equal(r.code, 0, describeRun(r));
      assert.equal(await returnValue(redis, job.id), 5);
    }
  });

  it('REDIS_USERNAME + REDIS_PASSWORD (an ACL user)', async () => {
    const { db, redis, queue } = lockedDb();
    const job = await queue().enqueue('jobs.add', 2, 3);
    const dir = projects.make({
      'jobs.ts': JOBS_TS,
      'settings.ts': settingsModule({ REDIS_HOST: '127.0.0.1', REDIS_PORT: locked.port, REDIS_DB: db, REDIS_USERNAME: 'alice', REDIS_PASSWORD: 'wonderland', NAME: 'acl' }),
    });
    const r = await runRq(['worker', '-b', '-c', 'settings'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    // Without the user name the password would be tried for the default user: WRONGPASS, exit 1.
    assert.equal(await returnValue(redis, job.id), 5);
  });

  it('a URL with a password (redis://:secret@host:port/db) reaches the protected server', async () => {
    const { url, redis, queue } = lockedDb();
    const job = await queue().enqueue('jobs.add', 2, 3);
    const r = await runRq(['worker', '-b', '-u', url], { cwd: projects.make({ 'jobs.ts': JOBS_TS }) });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(await returnValue(redis, job.id), 5);
    assert.ok(!r.output.includes('secret'), 'the password is never printed');
  });

  it('a protected server without the password: exit 1, one line, the password not printed', async () => {
    const { db } = lockedDb();
    const wrong = await runRq(['worker', '-b', '-u', `redis://:wrong@127.0.0.1:${locked.port}/${db}`], { cwd: projects.make() });
    assert.equal(wrong.code, 1, describeRun(wrong));
    assert.equal(linesOf(wrong.stderr).length, 1, describeRun(wrong));
    assert.match(wrong.stderr, /WRONGPASS|password/i);
    assert.ok(!wrong.stderr.includes(':wrong@'), describeRun(wrong));
  });

  it('REDIS_PREFIX: every key under the prefix, for the worker and the horse', async () => {
    const db = ++lastDb;
    const redis = connect({ url: `${server.url}/${db}`, prefix: '{rq}:' });
    clients.push(redis);
    const job = await new Queue('default', { connection: redis }).enqueue('jobs.add', 2, 3);
    assert.equal(await redis.llen('{rq}:queue:default'), 1);
    const dir = projects.make({ 'jobs.ts': JOBS_TS, 'settings.ts': settingsModule({ REDIS_URL: `${server.url}/${db}`, REDIS_PREFIX: '{rq}:', NAME: 'prefixed' }) });
    const r = await runRq(['worker', '-b', '-c', 'settings'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(await redis.hget(`{rq}:job:${job.id}`, 'status'), 'finished');
    assert.equal(await redis.exists('{rq}:worker:prefixed'), 1);
    assert.deepEqual(await redis.keys('rq:*'), [], 'nothing under rq:');
  });
});

describe('rq worker: precedence (flag > config file > environment > default)', { concurrency: 4 }, () => {
  it('NAME: --name > config NAME > env RQ_NAME', async () => {
    const { url } = freshDb();
    const dir = projects.make({ 'settings.ts': settingsModule({ NAME: 'from-config' }) });
    const env = { RQ_NAME: 'from-env' };
    const all = await runRq(['worker', '-b', '-u', url, '-c', 'settings', '--name', 'from-flag'], { cwd: dir, env });
    assert.ok(all.output.includes('rq:worker:from-flag:'), describeRun(all));
    const noFlag = await runRq(['worker', '-b', '-u', url, '-c', 'settings'], { cwd: dir, env });
    assert.ok(noFlag.output.includes('rq:worker:from-config:'), describeRun(noFlag));
    const envOnly = await runRq(['worker', '-b', '-u', url], { cwd: dir, env });
    assert.ok(envOnly.output.includes('rq:worker:from-env:'), describeRun(envOnly));
    for (const r of [all, noFlag, envOnly]) assert.equal(r.code, 0, describeRun(r));
  });

  it('RESULTS_TTL: --results-ttl > config RESULTS_TTL > env RQ_RESULTS_TTL > 500', async () => {
    const { url, redis, queue } = freshDb();
    const dir = projects.make({ 'jobs.ts': JOBS_TS, 'settings.ts': settingsModule({ RESULTS_TTL: 200 }) });
    const env = { RQ_RESULTS_TTL: '300' };
    const cases: [string[], Record<string, string>, number][] = [
      [['-c', 'settings', '--results-ttl', '100'], env, 100],
      [['-c', 'settings'], env, 200],
      [[], env, 300],
      [[], {}, 500],
    ];
    for (const [args, e, expected] of cases) {
      const job = await queue().enqueue('jobs.add', 1, 1);
      const r = await runRq(['worker', '-b', '-u', url, ...args], { cwd: dir, env: e });
      assert.equal(r.code, 0, describeRun(r));
      assert.equal(await status(redis, job.id), 'finished');
      await assertTtl(redis, `rq:job:${job.id}`, expected);
    }
  });

  it('REDIS_URL: --url > config REDIS_URL > env RQ_REDIS_URL', async () => {
    const [flagDb, configDb, envDb] = [freshDb(), freshDb(), freshDb()];
    const dir = projects.make({ 'settings.ts': settingsModule({ REDIS_URL: configDb.url }) });
    const env = { RQ_REDIS_URL: envDb.url };
    const where = async (name: string): Promise<string[]> => {
      const found: string[] = [];
      for (const [label, d] of [['flag', flagDb], ['config', configDb], ['env', envDb]] as const) {
        if (await d.redis.exists(`rq:worker:${name}`)) found.push(label);
      }
      return found;
    };
    const a = await runRq(['worker', '-b', '-n', 'p1', '-u', flagDb.url, '-c', 'settings'], { cwd: dir, env });
    assert.equal(a.code, 0, describeRun(a));
    assert.deepEqual(await where('p1'), ['flag']);
    const b = await runRq(['worker', '-b', '-n', 'p2', '-c', 'settings'], { cwd: dir, env });
    assert.equal(b.code, 0, describeRun(b));
    assert.deepEqual(await where('p2'), ['config']);
    const c = await runRq(['worker', '-b', '-n', 'p3'], { cwd: dir, env });
    assert.equal(c.code, 0, describeRun(c));
    assert.deepEqual(await where('p3'), ['env']);
  });

  it('--url replaces REDIS_HOST/REDIS_PORT/REDIS_DB of the config file', async () => {
    const { url, redis } = freshDb();
    const dir = projects.make({ 'settings.ts': settingsModule({ REDIS_HOST: '127.0.0.1', REDIS_PORT: 1, REDIS_DB: 9 }) });
    const r = await runRq(['worker', '-b', '-n', 'urlwins', '-u', url, '-c', 'settings'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(await redis.exists('rq:worker:urlwins'), 1);
  });

  it('LOG_FORMAT and DATE_FORMAT from the config; --log-format wins over LOG_FORMAT', async () => {
    const { url } = freshDb();
    const dir = projects.make({ 'settings.ts': settingsModule({ LOG_FORMAT: 'cfg|%(asctime)s|%(message)s', DATE_FORMAT: '%Y' }) });
    const year = new Date().getFullYear();
    const r = await runRq(['worker', '-b', '-u', url, '-c', 'settings'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    for (const line of linesOf(r.output)) assert.ok(line.startsWith(`cfg|${year}|`), line);
    const f = await runRq(['worker', '-b', '-u', url, '-c', 'settings', '--log-format', 'flag %(message)s'], { cwd: dir });
    assert.equal(f.code, 0, describeRun(f));
    for (const line of linesOf(f.output)) assert.ok(line.startsWith('flag '), line);
    const g = await runRq(['worker', '-b', '-u', url, '-c', 'settings', '--date-format', '%H:%M:%S', '--log-format', '%(asctime)s %(message)s'], { cwd: dir });
    for (const line of linesOf(g.output)) assert.match(line, DEFAULT_LOG_LINE);
  });

  it('env RQ_QUEUES (comma-separated) < config QUEUES < arguments', async () => {
    const { url } = freshDb();
    const dir = projects.make({ 'settings.ts': settingsModule({ QUEUES: ['cfg'] }) });
    const env = { RQ_QUEUES: 'e1, e2' };
    const e = await runRq(['worker', '-b', '-u', url], { cwd: dir, env });
    assert.ok(e.output.includes('*** Listening for work on e1, e2\n'), describeRun(e));
    const c = await runRq(['worker', '-b', '-u', url, '-c', 'settings'], { cwd: dir, env });
    assert.ok(c.output.includes('*** Listening for work on cfg\n'), describeRun(c));
    const a = await runRq(['worker', '-b', '-u', url, '-c', 'settings', 'arg'], { cwd: dir, env });
    assert.ok(a.output.includes('*** Listening for work on arg\n'), describeRun(a));
  });
});

describe('rq worker: config keys', { concurrency: 4 }, () => {
  it('WORKER_TTL (idle key TTL + 60) and JOB_MONITORING_INTERVAL (busy key TTL + 60)', async () => {
    const { db, url, redis, queue } = freshDb();
    const dir = projects.make({ 'jobs.ts': JOBS_TS, 'settings.ts': settingsModule({ REDIS_URL: url, NAME: 'ttls', WORKER_TTL: 100, JOB_MONITORING_INTERVAL: 7 }) });
    const w = spawnRq(['worker', '-c', 'settings'], { cwd: dir });
    try {
      // Start-up (config, horse) takes over 10 s on a loaded 2-core machine.
      await waitFor(async () => (await redis.hget('rq:worker:ttls', 'state')) === 'idle', 'the worker to be idle', 30_000);
      await assertTtl(redis, 'rq:worker:ttls', 160);
      const job = await queue().enqueue('jobs.hold', 'release:ttls');
      await waitFor(async () => (await status(redis, job.id)) === 'started', 'the job to start');
      await assertTtl(redis, 'rq:worker:ttls', 67);
      await redis.rpush('release:ttls', 'go');
      await waitFor(async () => (await status(redis, job.id)) === 'finished', 'the job to finish');
      await waitUntilWaiting(redis, db);
    } finally {
      assert.equal((await w.stop()).code, 0, w.output);
    }
  });

  it('MAX_JOBS', async () => {
    const { url, redis, queue } = freshDb();
    const a = await queue().enqueue('jobs.add', 1, 2);
    const b = await queue().enqueue('jobs.add', 1, 2);
    const r = await runRq(['worker', '-b', '-c', 'settings'], { cwd: projects.make({ 'jobs.ts': JOBS_TS, 'settings.ts': settingsModule({ REDIS_URL: url, MAX_JOBS: 1 }) }) });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(await status(redis, a.id), 'finished');
    assert.equal(await status(redis, b.id), 'queued');
  });

  it('LOGGING_LEVEL = WARNING: no INFO lines', async () => {
    const { url, redis, queue } = freshDb();
    const job = await queue().enqueue('jobs.add', 1, 2);
    const r = await runRq(['worker', '-b', '-c', 'settings'], {
      cwd: projects.make({ 'jobs.ts': JOBS_TS, 'settings.ts': settingsModule({ REDIS_URL: url, LOGGING_LEVEL: 'WARNING' }) }),
    });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(r.output, '', `nothing at INFO expected; ${describeRun(r)}`);
    assert.equal(await status(redis, job.id), 'finished');
  });

  it('LOGGING_LEVEL with an unknown level: exit 2 naming the key', async () => {
    const { url } = freshDb();
    const r = await runRq(['worker', '-b', '-c', 'settings'], { cwd: projects.make({ 'settings.ts': settingsModule({ REDIS_URL: url, LOGGING_LEVEL: 'LOUD' }) }) });
    assert.equal(r.code, 2, describeRun(r));
    assert.match(r.stderr, /LOGGING_LEVEL/);
  });

  it('DISABLE_JOB_DESC_LOGGING', async () => {
    const { url, queue } = freshDb();
    const job = await queue().enqueue('jobs.add', 2, 3);
    const r = await runRq(['worker', '-b', '-c', 'settings'], {
      cwd: projects.make({ 'jobs.ts': JOBS_TS, 'settings.ts': settingsModule({ REDIS_URL: url, DISABLE_JOB_DESC_LOGGING: true }) }),
    });
    assert.equal(r.code, 0, describeRun(r));
    assert.ok(r.output.includes(`Got job ${job.id} from default`), describeRun(r));
    assert.ok(!r.output.includes('jobs.add(2, 3)'), describeRun(r));
  });

  it('PATHS, PRELOAD and PLUGINS', async () => {
    const { url, redis, queue } = freshDb();
    const dir = projects.make({
      'lib/jobs.ts': JOBS_TS,
      'lib/warm.ts': "(globalThis as any).warm = 'warmed';\nexport {};\n",
      'lib/check.ts': "export const warm = (): unknown => (globalThis as any).warm ?? 'cold';\n",
      'lib/plug.ts': "export class Marker { apply(w: any): void { w.hooks.startup.tapPromise('Marker', async () => { await w.connection.rpush('marker', w.role); }); } }\n",
      'settings.ts': settingsModule({ REDIS_URL: url, PATHS: ['lib'], PRELOAD: ['warm'], PLUGINS: ['plug.Marker'] }),
    });
    const a = await queue().enqueue('jobs.add', 2, 3);
    const b = await queue().enqueue('check.warm');
    const r = await runRq(['worker', '-b', '-c', 'settings'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(await returnValue(redis, a.id), 5, 'PATHS: jobs found in lib/');
    assert.equal(await returnValue(redis, b.id), 'warmed', 'PRELOAD: imported by the horse');
    assert.deepEqual((await redis.lrange('marker', 0, -1)).sort(), ['horse', 'worker'], 'PLUGINS: applied in both roles');
  });

  it('PLUGINS may hold plugin objects, EXCEPTION_HANDLERS functions (a config module is code)', async () => {
    const { url, redis, queue } = freshDb();
    const dir = projects.make({
      'jobs.ts': JOBS_TS,
      'settings.ts': `
export const REDIS_URL = ${JSON.stringify(url)};
export const PLUGINS = [{ apply(w: any) { w.hooks.register.tapPromise('Inline', async () => { await w.connection.set('inline-plugin', 'yes'); }); } }];
export const EXCEPTION_HANDLERS = [async (job: any, err: Error) => { await job.connection.rpush('handled', err.message); }, 'handlers.Second'];
`,
      'handlers.ts': "export async function Second(job: any): Promise<boolean> { await job.connection.rpush('handled', 'second'); return false; }\n",
    });
    const job = await queue().enqueue('jobs.boom', 'bad');
    const r = await runRq(['worker', '-b', '-c', 'settings'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(await redis.get('inline-plugin'), 'yes');
    assert.deepEqual(await redis.lrange('handled', 0, -1), ['bad', 'second']);
    assert.notEqual(await redis.zscore('rq:failed:default', job.id), null);
  });

  it('EXCEPTION_HANDLERS (dotted paths) and DISABLE_DEFAULT_EXCEPTION_HANDLER; --exception-handler replaces the config list', async () => {
    const { url, redis, queue } = freshDb();
    const dir = projects.make({
      'jobs.ts': JOBS_TS,
      'handlers.ts': "export async function A(job: any): Promise<void> { await job.connection.rpush('h:' + job.id, 'A'); }\nexport async function B(job: any): Promise<void> { await job.connection.rpush('h:' + job.id, 'B'); }\n",
      'settings.ts': settingsModule({ REDIS_URL: url, EXCEPTION_HANDLERS: ['handlers.A', 'handlers.B'], DISABLE_DEFAULT_EXCEPTION_HANDLER: true }),
    });
    const job = await queue().enqueue('jobs.boom', 'bad');
    const r = await runRq(['worker', '-b', '-c', 'settings'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    assert.deepEqual(await redis.lrange(`h:${job.id}`, 0, -1), ['A', 'B']);
    assert.equal(await redis.zscore('rq:failed:default', job.id), null, 'DISABLE_DEFAULT_EXCEPTION_HANDLER: not in rq:failed');
    const job2 = await queue().enqueue('jobs.boom', 'bad');
    const f = await runRq(['worker', '-b', '-c', 'settings', '--exception-handler', 'handlers.B'], { cwd: dir });
    assert.equal(f.code, 0, describeRun(f));
    assert.deepEqual(await redis.lrange(`h:${job2.id}`, 0, -1), ['B']);
  });

  it('SERIALIZER: JSONSerializer accepted; DefaultSerializer (pickle) refused with exit 2', async () => {
    const { url, redis, queue } = freshDb();
    const job = await queue().enqueue('jobs.add', 2, 3);
    const ok = await runRq(['worker', '-b', '-c', 'settings'], {
      cwd: projects.make({ 'jobs.ts': JOBS_TS, 'settings.ts': settingsModule({ REDIS_URL: url, SERIALIZER: 'rq.serializers.JSONSerializer' }) }),
    });
    assert.equal(ok.code, 0, describeRun(ok));
    assert.equal(await returnValue(redis, job.id), 5);
    const bad = await runRq(['worker', '-b', '-c', 'settings'], {
      cwd: projects.make({ 'settings.ts': settingsModule({ REDIS_URL: url, SERIALIZER: 'rq.serializers.DefaultSerializer' }) }),
    });
    assert.equal(bad.code, 2, describeRun(bad));
    assert.match(bad.stderr, /pickle/i);
  });

  it('HORSE_MAX_JOBS and HORSE_MAX_MEMORY_MB', async () => {
    const { url, redis, queue } = freshDb();
    for (const key of ['HORSE_MAX_JOBS', 'HORSE_MAX_MEMORY_MB']) {
      const a = await queue().enqueue('jobs.pid');
      const b = await queue().enqueue('jobs.pid');
      const r = await runRq(['worker', '-b', '-c', 'settings'], { cwd: projects.make({ 'jobs.ts': JOBS_TS, 'settings.ts': settingsModule({ REDIS_URL: url, [key]: 1 }) }) });
      assert.equal(r.code, 0, describeRun(r));
      assert.notEqual(await returnValue(redis, a.id), await returnValue(redis, b.id), `${key}: a new horse for the second job`);
    }
  });

  it('MAINTENANCE_INTERVAL: registries are cleaned again after that many seconds (between jobs)', async () => {
    const { db, url, redis, queue } = freshDb();
    const dir = projects.make({ 'jobs.ts': JOBS_TS, 'settings.ts': settingsModule({ REDIS_URL: url, MAINTENANCE_INTERVAL: 1 }) });
    const w = spawnRq(['worker', '-c', 'settings'], { cwd: dir });
    const cleanings = (): number => w.output.split('Cleaning registries for queue: default').length - 1;
    try {
      await w.waitForOutput('Cleaning registries for queue: default');
      await redis.del('rq:clean_registries:default');
      const started = Date.now();
      await waitFor(async () => {
        const job = await queue().enqueue('jobs.noop');
        await waitFor(async () => (await status(redis, job.id)) === 'finished', 'a noop job');
        return cleanings() >= 2;
      }, 'a second cleaning', 10_000, 200);
      assert.ok(Date.now() - started >= 900, 'not before the interval');
      await waitUntilWaiting(redis, db);
    } finally {
      assert.equal((await w.stop()).code, 0, w.output);
    }
  });

  it('REDIS_SSL is a boolean key: a bad value is exit 2 naming the key', async () => {
    const { url } = freshDb();
    const r = await runRq(['worker', '-b', '-c', 'settings'], { cwd: projects.make({ 'settings.ts': settingsModule({ REDIS_URL: url, REDIS_SSL: 'maybe' }) }) });
    assert.equal(r.code, 2, describeRun(r));
    assert.match(r.stderr, /REDIS_SSL/);
  });
});

describe('rq worker: SENTRY_DSN and --sentry-* (a local ingest endpoint)', () => {
  let ingest: Server;
  let port = 0;
  const envelopes: string[] = [];

  const readBody = (req: IncomingMessage): Promise<Buffer> =>
    new Promise((ok) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => ok(Buffer.concat(chunks)));
    });

  before(async () => {
    ingest = createServer(async (req, res) => {
      const raw = await readBody(req);
      envelopes.push((req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8'));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((ok) => ingest.listen(0, '127.0.0.1', ok));
    port = (ingest.address() as { port: number }).port;
  });
  after(async () => {
    await new Promise((ok) => ingest.close(ok));
  });

  it('SENTRY_DSN from the config and RQ_SENTRY_DSN from the environment report job exceptions', async () => {
    const { url, queue } = freshDb();
    const dir = projects.make({ 'jobs.ts': JOBS_TS, 'settings.ts': settingsModule({ REDIS_URL: url, SENTRY_DSN: `http://pk@127.0.0.1:${port}/7` }) });
    const a = await queue().enqueue('jobs.boom', 'from-config');
    const r = await runRq(['worker', '-b', '-c', 'settings'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    await waitFor(() => envelopes.some((e) => e.includes(a.id)), 'the envelope of the config DSN', 5000);
    const b = await queue().enqueue('jobs.boom', 'from-env');
    const e = await runRq(['worker', '-b', '-u', url], { cwd: dir, env: { RQ_SENTRY_DSN: `http://pk@127.0.0.1:${port}/8` } });
    assert.equal(e.code, 0, describeRun(e));
    await waitFor(() => envelopes.some((x) => x.includes(b.id)), 'the envelope of RQ_SENTRY_DSN', 5000);
  });

  it('the horse that takes its own jobs reports them (--horse-loop starts with --sentry-dsn); its worker reports a dead horse\'s job', async () => {
    const { url, queue } = freshDb();
    const dir = projects.make({ 'jobs.ts': JOBS_TS, 'crash.ts': 'export function now(): never { process.exit(5); }\n' });
    const failed = await queue().enqueue('jobs.boom', 'from-the-horse');
    const died = await queue().enqueue('crash.now');
    const r = await runRq(['worker', '-b', '-u', url, '--horse-loop', '--sentry-dsn', `http://pk@127.0.0.1:${port}/10`], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    await waitFor(() => envelopes.some((e) => e.includes(failed.id) && e.includes('from-the-horse')), 'the envelope of the job the horse failed', 5000);
    await waitFor(() => envelopes.some((e) => e.includes(died.id) && e.includes('Work-horse terminated unexpectedly')), 'the envelope of the dead horse\'s job', 5000);
  });

  it('--sentry-debug turns on the SDK\'s debug output', async () => {
    const { url, queue } = freshDb();
    await queue().enqueue('jobs.boom', 'debugged');
    const r = await runRq(['worker', '-b', '-u', url, '--sentry-dsn', `http://pk@127.0.0.1:${port}/9`, '--sentry-debug'], { cwd: projects.make({ 'jobs.ts': JOBS_TS }) });
    assert.equal(r.code, 0, describeRun(r));
    assert.match(r.output, /Sentry Logger/);
    const quiet = await runRq(['worker', '-b', '-u', url, '--sentry-dsn', `http://pk@127.0.0.1:${port}/9`], { cwd: projects.make() });
    assert.ok(!quiet.output.includes('Sentry Logger'), describeRun(quiet));
  });
});

describe('rq worker: a job failure is reported, the worker goes on', () => {
  it('exit code 0 after a failed job (rq: even after a logged unhandled exception)', async () => {
    const { url, redis, queue } = freshDb();
    const job = await queue().enqueue('jobs.boom', 'bad');
    const r = await runRq(['worker', '-b', '-u', url], { cwd: projects.make({ 'jobs.ts': JOBS_TS }) });
    assert.equal(r.code, 0, describeRun(r));
    assert.match(await excText(redis, job.id), /TypeError: bad/);
  });
});
