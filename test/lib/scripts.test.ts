/**
 * The Lua scripts are files of lib/redis/lua/ whose headers list their KEYS and arguments; the loader
 * checks each header against the order scripts.ts sends them in, so that a script never reads an
 * argument by the wrong name.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { Redis } from 'ioredis';
import { Redis as IORedis } from 'ioredis';
import { Queue, SimpleWorker } from '../../lib/index.js';
import { loadLibrary, loadScript, pipeline, runScript } from '../../lib/redis/scripts.js';
import { takenAhead } from '../../lib/Lookahead.js';
import { collectingLogger, repoRoot, status, task } from '../helpers/worker.js';
import { useRedis, type RedisServer } from '../helpers/redis.js';

let redis: Redis;
let server: RedisServer;
useRedis((s, r) => {
  server = s;
  redis = r;
});

const luaDir = join(repoRoot, 'lib/redis/lua');
const tmp = mkdtempSync(join(tmpdir(), 'rq-ts-lua-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A copy of lib/redis/lua/ in which `file` reads `text`. */
function luaDirWith(file: string, text: string): URL {
  const dir = mkdtempSync(join(tmp, 'lua-'));
  mkdirSync(join(dir, 'include'));
  for (const f of readdirSync(join(luaDir, 'include'))) copyFileSync(join(luaDir, 'include', f), join(dir, 'include', f));
  for (const f of readdirSync(luaDir).filter((f) => f.endsWith('.lua'))) copyFileSync(join(luaDir, f), join(dir, f));
  writeFileSync(join(dir, file), text);
  return pathToFileURL(`${dir}/`);
}

const release = readFileSync(join(luaDir, 'rqRelease.lua'), 'utf8');
const releaseSignature = { keys: ['intermediate', 'queue'], args: ['id'] };

describe('Lua script files', () => {
  it('every file of lib/redis/lua/ is a script defined on the connection (its header checked when scripts.ts loaded)', () => {
    pipeline(redis);
    const names = readdirSync(luaDir)
      .filter((f) => f.endsWith('.lua'))
      .map((f) => f.slice(0, -'.lua'.length));
    assert.equal(names.length, 17);
    for (const name of names) assert.equal(typeof (redis as unknown as Record<string, unknown>)[name], 'function', `${name}.lua is not defined`);
  });

  it('a prologue unpacks the arguments into locals named as in the header; KEYS keep their order', async () => {
    const lua = loadScript('rqRelease', releaseSignature, luaDirWith('rqRelease.lua', release));
    assert.match(lua, /^local id = unpack\(cmsgpack\.unpack\(ARGV\[1\]\), 1, 1\)\n--\[\[/);
    await redis.rpush('rq:intermediate:lua', 'a');
    assert.equal(await runScript(redis, 'rqRelease', { intermediate: 'rq:intermediate:lua', queue: 'rq:queue:lua' }, { id: 'a' }), 1);
    assert.deepEqual(await redis.lrange('rq:queue:lua', 0, -1), ['a']);
    assert.equal(await runScript(redis, 'rqRelease', { intermediate: 'rq:intermediate:lua', queue: 'rq:queue:lua' }, { id: 'a' }), 0);
  });

  it('a header whose arguments differ from what scripts.ts sends is refused, naming both lists', () => {
    const dir = luaDirWith('rqRelease.lua', release);
    assert.throws(
      () => loadScript('rqRelease', { ...releaseSignature, args: ['id', 'at'] }, dir),
      /rqRelease\.lua: the header's ARGV \(id\) do not match scripts\.ts' SCRIPTS entry \(id, at\)/,
    );
    const renamed = luaDirWith('rqRelease.lua', release.replace('    id  job id', '    jobId  job id'));
    assert.throws(() => loadScript('rqRelease', releaseSignature, renamed), /the header's ARGV \(jobId\) do not match scripts\.ts' SCRIPTS entry \(id\)/);
  });

  it('a header whose KEYS differ in order or numbering is refused', () => {
    const swapped = luaDirWith('rqRelease.lua', release.replace('1 intermediate', '1 queue        ').replace('2 queue       ', '2 intermediate'));
    assert.throws(() => loadScript('rqRelease', releaseSignature, swapped), /the header's KEYS \(queue, intermediate\) do not match scripts\.ts' SCRIPTS entry \(intermediate, queue\)/);
    const skipped = luaDirWith('rqRelease.lua', release.replace('2 queue ', '3 queue '));
    assert.throws(() => loadScript('rqRelease', releaseSignature, skipped), /rqRelease\.lua: its KEYS line "3 queue .*" should be "2 <name>" or "2\.\. <name>"/);
    const tail = luaDirWith('rqRelease.lua', release.replace('2 queue ', '2.. queue '));
    assert.throws(() => loadScript('rqRelease', releaseSignature, tail), /the header's KEYS \(intermediate, \.\.\.queue\) do not match/);
  });

  it('an include that reads an argument the script does not declare is refused', () => {
    const dir = luaDirWith('rqRelease.lua', `${release}-- @include next\n`);
    assert.throws(() => loadScript('rqRelease', releaseSignature, dir), /include\/next\.lua reads the argument nextMode, which the header of .*rqRelease\.lua does not declare/);
  });

  it('an argument name that is not an identifier (a Lua local, a property read) is refused', () => {
    const dir = luaDirWith('rqRelease.lua', release.replace('    id  job id', '    job-id  job id'));
    assert.throws(() => loadScript('rqRelease', { ...releaseSignature, args: ['job-id'] }, dir), /rqRelease\.lua: the argument name "job-id" is not an identifier/);
  });

  it('a file without a header is refused', () => {
    const dir = luaDirWith('rqRelease.lua', release.slice(release.indexOf(']]') + 3));
    assert.throws(() => loadScript('rqRelease', releaseSignature, dir), /rqRelease\.lua has no header: it must start with a --\[\[ \.\.\. \]\] comment/);
  });
});

describe('outcome scripts and keys of another type', () => {
  // The checks before the first write (include/typeCheck.lua) and the first write itself under pcall
  // (include/leaveStarted.lua): either way, a stranger's key of another type gets its error before the
  // script has written anything.
  const keys = {
    job: 'rq:job:t1',
    wip: 'rq:wip:t',
    finished: 'rq:finished:t',
    results: 'rq:results:t1',
    worker: 'rq:worker:w1',
    dependents: 'rq:job:t1:dependents',
    dependencies: 'rq:job:t1:dependencies',
    queue: 'rq:queue:t',
    queues: 'rq:queues',
    scheduled: 'rq:scheduled:t',
    intermediate: 'rq:queue:t:intermediate',
    execution: 'rq:execution:-',
    executions: 'rq:executions:-',
    next: [],
  };
  const args = {
    id: 't1',
    endedAt: '2026-12-07T05:00:00.000000Z',
    resultTtl: 500,
    counts: ['1', '0', '0.001'] as const,
    workerTtl: 420,
    stillRunning: '',
    nextMode: 'none',
    nextId: '',
    nextQueue: '',
    claimedAt: '',
    jobMonitoringInterval: '',
    workerName: '',
    claimMode: '',
    takeAhead: '0',
    nextExecId: '',
    peekCount: '',
    nextTtl: '',
    token: '1-w1-1',
    result: ['created_at', '2026-12-07T05:00:00.000000Z', 'type', '1', 'return_value', 'null'],
    plan: '',
    queueMember: 'rq:queue:t',
    execId: '',
  } as const;

  for (const [bad, wanted] of [
    ['intermediate', 'list'],
    ['wip', 'zset'],
    ['finished', 'zset'],
    ['worker', 'hash'],
    ['job', 'hash'],
  ] as const) {
    for (const token of ['1-w1-1', '']) it(`rqFinish with ${bad} a string (token '${token}'): the WRONGTYPE error naming it, nothing written`, async () => {
      await redis.flushdb();
      await redis.hset(keys.job, { status: 'started', origin: 't' });
      await redis.zadd(keys.wip, 1_000, 't1');
      await redis.rpush(keys.intermediate, 'other');
      await redis.hset(keys.worker, { state: 'busy', current_job: 't1' });
      await redis.set(keys[bad], 'a stranger');
      const before = new Map<string, string>();
      for (const k of await redis.keys('*')) before.set(k, JSON.stringify(await redis.dump(k)));
      await assert.rejects(
        runScript(redis, 'rqFinish', keys, { ...args, token } as never),
        (e: unknown) => e instanceof Error && e.message === `WRONGTYPE ${keys[bad]} holds a string, expected a ${wanted}`,
      );
      const after = new Map<string, string>();
      for (const k of await redis.keys('*')) after.set(k, JSON.stringify(await redis.dump(k)));
      assert.deepEqual(after, before);
    });
  }

  it('rqFinish with wip a string while the job is still in its intermediate list (a retried start on its way): the error, and the id back in the list', async () => {
    await redis.flushdb();
    await redis.hset(keys.job, { status: 'started', origin: 't' });
    await redis.rpush(keys.intermediate, 'a', 't1', 'b');
    await redis.hset(keys.worker, { state: 'busy', current_job: 't1' });
    await redis.set(keys.wip, 'a stranger');
    const job = await redis.hgetall(keys.job);
    await assert.rejects(
      runScript(redis, 'rqFinish', keys, args as never),
      (e: unknown) => e instanceof Error && e.message === `WRONGTYPE ${keys.wip} holds a string, expected a zset`,
    );
    assert.deepEqual((await redis.lrange(keys.intermediate, 0, -1)).sort(), ['a', 'b', 't1'], 'nothing lost from the intermediate list');
    assert.deepEqual(await redis.hgetall(keys.job), job, 'the job untouched');
    assert.equal(await redis.get(keys.wip), 'a stranger');
    assert.deepEqual(await redis.hgetall(keys.worker), { state: 'busy', current_job: 't1' }, 'the worker untouched');
    assert.deepEqual((await redis.keys('*')).sort(), [keys.job, keys.intermediate, keys.worker, keys.wip].sort(), 'no other key written');
  });
});

describe('replays', () => {
  it('rqTake sent again with its token returns the same reply and writes nothing; the summary kept names the jobs taken ahead, ids of any bytes', async () => {
    await redis.flushdb();
    const ids = ['a b', 'ü 1', 'c'] as const;
    for (const id of ids) await redis.hset(`rq:job:${id}`, { status: 'queued', origin: 't', timeout: '100' });
    await redis.rpush('rq:queue:t', ...ids, 'd');
    await redis.hset('rq:worker:w1', { state: 'idle' });
    const next = ['rq:suspended', 'rq:worker:w1', `rq:job:${ids[0]}`, 'rq:execution:-', 'rq:executions:-', 'rq:queue:t', 'rq:queue:t:intermediate', 'rq:wip:t'];
    const args = {
      nextMode: 'claim-head',
      nextId: ids[0],
      nextQueue: '',
      claimedAt: '2026-12-07T07:00:00.000000Z',
      jobMonitoringInterval: 30,
      workerName: 'w1',
      claimMode: 'inline',
      takeAhead: '2',
      nextExecId: '',
      peekCount: 2,
      nextTtl: '',
      token: '3-w1-7',
    } as const;
    const text = (reply: unknown): unknown => (Array.isArray(reply) ? reply.map((v) => (Buffer.isBuffer(v) ? v.toString() : v)) : reply);
    const first = text(await runScript(redis, 'rqTake', { next }, args));
    assert.deepEqual(first, ['claimed', 1, ids[0], 2, 1, ids[1], 1, ids[2], 'd'], 'claimed A, took two ahead, peeked at the head after them');
    const saved = await redis.hgetBuffer('rq:worker:w1', 'rqts_call3');
    assert.ok(saved?.subarray(0, 7).equals(Buffer.from('3-w1-7 ')), 'the summary is kept in the slot the token names');
    assert.deepEqual(takenAhead(saved!.subarray(7)), [{ queue: 1, id: ids[1] }, { queue: 1, id: ids[2] }]);
    const before = new Map<string, string>();
    for (const k of await redis.keys('*')) before.set(k, JSON.stringify(await redis.dump(k)));
    assert.deepEqual(text(await runScript(redis, 'rqTake', { next }, args)), first, 'the same reply again');
    const after = new Map<string, string>();
    for (const k of await redis.keys('*')) after.set(k, JSON.stringify(await redis.dump(k)));
    assert.deepEqual(after, before, 'nothing written by the replay');
  });
});

/** INFO commandstats calls of `command` (`function|load` for a subcommand). */
async function calls(connection: Redis, command: string): Promise<number> {
  const stats = String(await connection.info('commandstats'));
  return Number(new RegExp(`^cmdstat_${command.replace('|', '\\|')}:calls=(\\d+)`, 'm').exec(stats)?.[1] ?? 0);
}

describe('the scripts as a Redis Functions library', () => {
  const library = loadLibrary();
  const releaseOn = async (connection: Redis): Promise<unknown> => {
    await redis.rpush('rq:intermediate:lib', 'a');
    return runScript(connection, 'rqRelease', { intermediate: 'rq:intermediate:lib', queue: 'rq:queue:lib' }, { id: 'a' });
  };

  it('on Redis 7 a connection loads the library at its first script call, then runs each script with FCALL', async () => {
    await redis.call('FUNCTION', 'FLUSH');
    await redis.config('RESETSTAT');
    const connection = new IORedis(server.url);
    try {
      for (let i = 0; i < 3; i++) assert.equal(await releaseOn(connection), 1);
      assert.deepEqual(await redis.lrange('rq:queue:lib', 0, -1), ['a', 'a', 'a']);
      assert.equal(await calls(redis, 'function|load'), 1);
      assert.equal(await calls(redis, 'fcall'), 3);
      assert.equal(await calls(redis, 'evalsha') + (await calls(redis, 'eval')), 0);
      const listed = (await redis.call('FUNCTION', 'LIST', 'LIBRARYNAME', library.name)) as unknown[][];
      assert.equal(listed.length, 1, 'the library, under its name');
      assert.match(library.name, /^rqts_[0-9a-f]{16}$/);
      assert.equal(library.functions.get('rqRelease'), `${library.name}_rqRelease`);
    } finally {
      connection.disconnect();
    }
  });

  it('a library Redis lost (FUNCTION FLUSH, a restart without persistence) is loaded again by the next call, which runs once', async () => {
    const connection = new IORedis(server.url);
    try {
      assert.equal(await releaseOn(connection), 1);
      await redis.call('FUNCTION', 'FLUSH');
      await redis.config('RESETSTAT');
      assert.equal(await releaseOn(connection), 1);
      assert.deepEqual(await redis.lrange('rq:queue:lib', 0, -1), ['a', 'a'], 'the second call ran once');
      assert.equal(await calls(redis, 'function|load'), 1);
    } finally {
      connection.disconnect();
    }
  });

  it('a user whom ACL refuses FUNCTION runs the same scripts with EVALSHA: a burst worker finishes its jobs', async () => {
    await redis.call('ACL', 'SETUSER', 'nofunctions', 'on', '>pw', '~*', '&*', '+@all', '-function');
    await redis.call('FUNCTION', 'FLUSH');
    const url = new URL(server.url);
    url.username = 'nofunctions';
    url.password = 'pw';
    const connection = new IORedis(url.toString());
    try {
      await redis.config('RESETSTAT');
      const q = new Queue('acl', { connection });
      const jobs = await Promise.all([1, 2, 3].map((i) => q.enqueue(task('add'), i, 1)));
      const worker = new SimpleWorker(['acl'], { connection, installSignalHandlers: false, paths: [repoRoot], logger: collectingLogger() });
      assert.equal(await worker.work({ burst: true }), true);
      for (const job of jobs) assert.equal(await status(redis, job.id), 'finished');
      assert.ok((await calls(redis, 'evalsha')) >= 3, 'the outcome scripts ran with EVALSHA');
      assert.equal(await calls(redis, 'fcall'), 0);
      assert.deepEqual(await redis.call('FUNCTION', 'LIST'), [], 'nothing loaded');
    } finally {
      connection.disconnect();
      await redis.call('ACL', 'DELUSER', 'nofunctions');
    }
  });

  it("each call starts from the includes' initial state, as under EVAL: rq:suspended read again", async () => {
    for (const id of ['a', 'b']) await redis.hset(`rq:job:${id}`, { status: 'queued', origin: 't', timeout: '100' });
    await redis.rpush('rq:queue:t', 'a', 'b');
    await redis.hset('rq:worker:w1', { state: 'idle' });
    const next = (id: string) => ['rq:suspended', 'rq:worker:w1', `rq:job:${id}`, 'rq:execution:-', 'rq:executions:-', 'rq:queue:t', 'rq:queue:t:intermediate', 'rq:wip:t'];
    const args = (id: string) =>
      ({
        nextMode: 'claim-head',
        nextId: id,
        nextQueue: '',
        claimedAt: '2026-12-07T07:00:00.000000Z',
        jobMonitoringInterval: 30,
        workerName: 'w1',
        claimMode: 'inline',
        takeAhead: '0',
        nextExecId: '',
        peekCount: 1,
        nextTtl: '',
        token: '',
      }) as const;
    const kind = (reply: unknown[]): string => String(reply[0]);
    assert.equal(kind(await runScript(redis, 'rqTake', { next: next('a') }, args('a'))), 'claimed', 'not suspended: read as such');
    await redis.set('rq:suspended', '1');
    assert.equal(kind(await runScript(redis, 'rqTake', { next: next('b') }, args('b'))), 'suspended');
    assert.deepEqual(await redis.lrange('rq:queue:t', 0, -1), ['b'], 'nothing taken while suspended');
  });

  it("an include's top-level variable set over several lines is refused: the library could not set it back", () => {
    const now = readFileSync(join(luaDir, 'include/now.lua'), 'utf8').replace('local now_cached\n', 'local now_cached = {\n}\n');
    assert.throws(() => loadLibrary(luaDirWith('include/now.lua', now)), /include\/now\.lua: the top-level "local now_cached = \{" must be "local <names>" or "local <names> = <values>" on one line/);
  });

  it('the library is named by a hash of its code: another version of a script is another library beside it', async () => {
    const changed = loadLibrary(luaDirWith('rqRelease.lua', `${release}-- another version\n`));
    assert.notEqual(changed.name, library.name);
    assert.equal(changed.functions.get('rqRelease'), `${changed.name}_rqRelease`);
    await redis.call('FUNCTION', 'FLUSH');
    await redis.call('FUNCTION', 'LOAD', library.code);
    await redis.call('FUNCTION', 'LOAD', changed.code);
    assert.equal(((await redis.call('FUNCTION', 'LIST')) as unknown[]).length, 2);
  });
});
