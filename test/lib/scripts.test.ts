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
import { loadScript, pipeline, runScript } from '../../lib/redis/scripts.js';
import { takenAhead } from '../../lib/Lookahead.js';
import { repoRoot } from '../helpers/worker.js';
import { useRedis } from '../helpers/redis.js';

let redis: Redis;
useRedis((_server, r) => {
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
    assert.equal(names.length, 16);
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
