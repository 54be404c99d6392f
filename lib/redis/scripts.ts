import type { ChainableCommander, Redis } from 'ioredis';

/**
 * Every Lua script rq-ts runs. Each one names every key it touches in KEYS (Redis Cluster and
 * Dragonfly refuse undeclared keys), so a script never builds a key name from data it reads.
 * Scripts check key types before their first write, so one that fails leaves nothing half-written.
 */
const TYPE_CHECK = `
local function expect_type(key, wanted)
  local t = redis.call('TYPE', key).ok
  if t ~= wanted and t ~= 'none' then
    return redis.error_reply('WRONGTYPE ' .. key .. ' holds a ' .. t .. ', expected a ' .. wanted)
  end
end
`;

const LUA = {
  /**
   * Enqueue one job (rq-wire-protocol.md §4.1).
   * KEYS: rq:queues, queue list, job hash, job dependents, job dependencies.
   * ARGV: queue key (member of rq:queues), job id, at_front '1'|'0', ttl ('' = none), field, value, ...
   */
  rqEnqueue: `${TYPE_CHECK}
local err = expect_type(KEYS[2], 'list') or expect_type(KEYS[3], 'hash')
if err then return err end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[3], unpack(ARGV, 5))
if ARGV[4] ~= '' then
  redis.call('EXPIRE', KEYS[3], ARGV[4])
  redis.call('EXPIRE', KEYS[4], ARGV[4])
  redis.call('EXPIRE', KEYS[5], ARGV[4])
end
if ARGV[3] == '1' then
  return redis.call('LPUSH', KEYS[2], ARGV[2])
end
return redis.call('RPUSH', KEYS[2], ARGV[2])
`,

  /**
   * An expired StartedJobRegistry entry (its worker stopped heart-beating): rq 1.13's cleanup.
   * Retries left -> requeued (or scheduled after the retry interval); else failed with exc_info.
   * The ZREM decides who handles the entry, so two concurrent cleaners never both move it.
   * KEYS: wip, job, failed, dependents, dependencies, queue, rq:queues, scheduled.
   * ARGV: wip member, now (epoch s), exc_info (zlib), default failure ttl, now (rq timestamp), queue key,
   * job id (the member is `id:execid` in rq 2.x data).
   * Returns 'failed', 'requeued', 'scheduled' or 'gone'.
   */
  rqAbandonStarted: `
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 'gone' end
if redis.call('EXISTS', KEYS[2]) == 0 then return 'gone' end
local now = tonumber(ARGV[2])
local retries = tonumber(redis.call('HGET', KEYS[2], 'retries_left'))
if retries and retries > 0 then
  local ok, intervals = pcall(cjson.decode, redis.call('HGET', KEYS[2], 'retry_intervals') or '[0]')
  if not ok or type(intervals) ~= 'table' or #intervals == 0 then intervals = {0} end
  local idx = math.max(#intervals - retries, 0) + 1
  if idx > #intervals then idx = #intervals end
  local interval = tonumber(intervals[idx]) or 0
  redis.call('HSET', KEYS[2], 'retries_left', retries - 1)
  redis.call('SADD', KEYS[7], ARGV[6])
  if interval > 0 then
    redis.call('HSET', KEYS[2], 'status', 'scheduled')
    redis.call('ZADD', KEYS[8], math.floor(now + interval), ARGV[7])
    return 'scheduled'
  end
  redis.call('HSET', KEYS[2], 'status', 'queued', 'enqueued_at', ARGV[5])
  redis.call('RPUSH', KEYS[6], ARGV[7])
  return 'requeued'
end
local ttl = tonumber(redis.call('HGET', KEYS[2], 'failure_ttl')) or tonumber(ARGV[4])
redis.call('HSET', KEYS[2], 'status', 'failed', 'exc_info', ARGV[3])
local score = now + ttl
if ttl < 0 then score = '+inf' end
redis.call('ZADD', KEYS[3], score, ARGV[7])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[2], ttl)
  redis.call('EXPIRE', KEYS[4], ttl)
  redis.call('EXPIRE', KEYS[5], ttl)
end
return 'failed'
`,

  /**
   * Remove the first `#ids` entries of a queue and their job hashes, if the head is still exactly
   * those ids (else returns -1 and the caller reads the head again).
   * KEYS: queue, then per id: job hash, dependents. ARGV: ids.
   */
  rqEmptyChunk: `
local n = #ARGV
local head = redis.call('LRANGE', KEYS[1], 0, n - 1)
if #head ~= n then return -1 end
for i = 1, n do
  if head[i] ~= ARGV[i] then return -1 end
end
redis.call('LTRIM', KEYS[1], n, -1)
for i = 1, n do
  redis.call('DEL', KEYS[2 * i], KEYS[2 * i + 1])
end
return n
`,
} as const;

export type ScriptName = keyof typeof LUA;
type Arg = string | number | Buffer;
type ScriptCaller = (numKeys: number, ...keysAndArgs: Arg[]) => Promise<unknown>;

const prepared = new WeakSet<Redis>();

function prepare(connection: Redis): void {
  if (prepared.has(connection)) return;
  for (const [name, lua] of Object.entries(LUA)) {
    // defineCommand gives EVALSHA with a fallback to EVAL, in pipelines too.
    connection.defineCommand(name, { lua });
    connection.defineCommand(`${name}Buffer`, { lua });
  }
  prepared.add(connection);
}

function caller(target: Redis | ChainableCommander, name: string): ScriptCaller {
  const fn = (target as unknown as Record<string, ScriptCaller | undefined>)[name];
  if (!fn) throw new Error(`Lua script ${name} is not defined on this connection; create pipelines with pipeline() or multi() from lib/redis`);
  return fn.bind(target);
}

/** Run a script and get its reply (strings). */
export function runScript(connection: Redis, name: ScriptName, keys: readonly string[], args: readonly Arg[]): Promise<unknown> {
  prepare(connection);
  return caller(connection, name)(keys.length, ...keys, ...args);
}

/** Run a script and get its reply with bulk strings as Buffers. */
export function runScriptBuffer(connection: Redis, name: ScriptName, keys: readonly string[], args: readonly Arg[]): Promise<unknown> {
  prepare(connection);
  return caller(connection, `${name}Buffer`)(keys.length, ...keys, ...args);
}

/** A MULTI/EXEC transaction on `connection` that can hold script calls. */
export function multi(connection: Redis): ChainableCommander {
  prepare(connection);
  return connection.multi();
}

/** A pipeline on `connection` that can hold script calls. */
export function pipeline(connection: Redis): ChainableCommander {
  prepare(connection);
  return connection.pipeline();
}

/** Add a script call to a pipeline or MULTI made by `pipeline()` or `multi()`. */
export function queueScript(target: ChainableCommander, name: ScriptName, keys: readonly string[], args: readonly Arg[]): void {
  void caller(target, name)(keys.length, ...keys, ...args);
}
