import type { ChainableCommander, Redis } from 'ioredis';
import { packArgs, type PackedArg } from './msgpack.js';

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

/**
 * The keys every outcome script writes (job, wip, registry, results, worker, dependents,
 * dependencies: KEYS[1..7] of rqFinish and rqFail). A key of another type (a stranger's) would fail
 * a write half-way, so they are checked before the first one; returns the error reply, or nil.
 */
const OUTCOME_CHECK = `${TYPE_CHECK}
local function outcome_keys_refused()
  return expect_type(KEYS[1], 'hash') or expect_type(KEYS[2], 'zset') or expect_type(KEYS[3], 'zset')
    or expect_type(KEYS[4], 'stream') or expect_type(KEYS[5], 'hash') or expect_type(KEYS[6], 'set') or expect_type(KEYS[7], 'set')
end
`;

/**
 * rq's retry (rq-wire-protocol.md §4.9) and the FailedJobRegistry entry, shared by the failure and
 * the abandoned-job paths. retry() returns 'requeued' or 'scheduled' when the job had retries
 * left, else nil.
 */
const RETRY = `
local function retry(job_key, queue_key, queues_key, scheduled_key, queue_member, id, now, now_ts)
  local retries = tonumber(redis.call('HGET', job_key, 'retries_left'))
  -- junk such as 'nan', '1e999' or 1e20 (where retries - 1 == retries) must not retry forever
  if not retries or retries ~= retries or retries <= 0 or retries > 1e9 then return nil end
  retries = math.floor(retries)
  local ok, intervals = pcall(cjson.decode, redis.call('HGET', job_key, 'retry_intervals') or '[0]')
  if not ok or type(intervals) ~= 'table' or #intervals == 0 then intervals = {0} end
  local idx = math.max(#intervals - retries, 0) + 1
  if idx > #intervals then idx = #intervals end
  local interval = tonumber(intervals[idx]) or 0
  redis.call('HSET', job_key, 'retries_left', retries - 1)
  redis.call('SADD', queues_key, queue_member)
  if interval > 0 then
    redis.call('HSET', job_key, 'status', 'scheduled')
    redis.call('ZADD', scheduled_key, math.floor(now + interval), id)
    return 'scheduled'
  end
  redis.call('HSET', job_key, 'status', 'queued', 'enqueued_at', now_ts)
  redis.call('RPUSH', queue_key, id)
  return 'requeued'
end
-- FailedJobRegistry for the failure ttl (score now + ttl, '+inf' when negative); with a positive
-- ttl the job's hash and its dependents/dependencies sets expire with the entry.
local function add_failed(failed_key, id, now, ttl, job_key, dependents_key, dependencies_key)
  local score = now + ttl
  if ttl < 0 then score = '+inf' end
  redis.call('ZADD', failed_key, score, id)
  if ttl > 0 then
    redis.call('EXPIRE', job_key, ttl)
    redis.call('EXPIRE', dependents_key, ttl)
    redis.call('EXPIRE', dependencies_key, ttl)
  end
end
`;

/**
 * Register a job as started (rq-wire-protocol.md §4.3, in one script instead of rq's pipeline):
 * job status/started_at/worker_name/last_heartbeat, PERSIST (its queued ttl no longer applies),
 * StartedJobRegistry, worker busy with current_job. The heartbeat TTL follows rq's rule from the
 * job's own timeout: 'inline' (SimpleWorker) = (timeout or 420) + 60, else min(timeout, interval) + 60.
 * Returns the TTL and, when asked, the job's hash.
 * Also `peek`: the first two heads of the queues, in priority order.
 */
const CLAIM = `
local function claim(job_key, wip_key, worker_key, id, now_ts, now, interval, worker_name, mode, want_hash)
  local timeout = tonumber(redis.call('HGET', job_key, 'timeout')) or 180
  -- junk ('1e309', 'nan', 1e20) would make EXPIRE fail half-way through the claim: the default, as
  -- the worker's own parser (parseTimeout) takes it
  if timeout ~= timeout or timeout > 1e9 or timeout < -1e9 then timeout = 180 end
  local ttl
  if mode == 'inline' then
    if timeout <= 0 then ttl = 420 else ttl = timeout + 60 end
  elseif timeout > 0 then
    ttl = math.min(timeout, interval) + 60
  else
    ttl = interval + 60
  end
  ttl = math.ceil(ttl)
  redis.call('HSET', job_key, 'status', 'started', 'started_at', now_ts, 'worker_name', worker_name, 'last_heartbeat', now_ts)
  redis.call('PERSIST', job_key)
  redis.call('ZADD', wip_key, now + ttl, id)
  redis.call('HSET', worker_key, 'current_job', id, 'current_job_working_time', '0', 'state', 'busy', 'last_heartbeat', now_ts)
  redis.call('EXPIRE', worker_key, ttl)
  if want_hash then return ttl, redis.call('HGETALL', job_key) end
  return ttl, false
end
-- the first two heads of the queues (priority order) from KEYS[from .. from+n-1]: ids only
local function peek(from, n)
  local ids = {}
  for i = 0, n - 1 do
    local heads = redis.call('LRANGE', KEYS[from + i], 0, 1 - #ids)
    for _, id in ipairs(heads) do ids[#ids + 1] = id end
    if #ids >= 2 then break end
  end
  return ids
end
`;

/**
 * The next job, queues in priority order. KEYS block at k, ARGV block at a:
 *   KEYS: rq:suspended, worker, job key A, job keys B1, B2 (any key when unused), queue 1..n,
 *         intermediate 1..n, wip 1..n.
 *   ARGV: mode, id A, index of A's queue, ids B1, B2, now (rq ts), now (epoch s), job monitoring
 *         interval, worker name, 'inline'|'process', how many to take ahead '0'|'1'|'2'.
 * Mode '1' (take_next): A is the id peeked at the last call. When the first non-empty queue's head is
 * A, the job is popped and claimed right here (one round trip per job for a busy worker); otherwise
 * the head is LMOVEd into its intermediate list for rqClaim: it is never only in a worker's memory.
 * Mode '2'/'3' (start_held): A is the job this worker took ahead (it waits in A's intermediate list);
 * it is claimed ('3' also returns its hash). The worker may already be running it: a job taken
 * ahead is started whatever happened meanwhile, unless its hash is gone.
 * Taking ahead (after a claim or start, not while suspended) LMOVEs the next heads into their
 * intermediate lists, each with its hash when it is B1 or B2, ids peeked at an earlier call.
 * Replies: {'suspended'} | {'empty'} | {'taken', i, id}
 *        | {'claimed'|'started'|'gone'|'lost', i, id, ttl, hash, peeked ids, ahead}
 * where ahead is a list of {i, id, hash or false}, in the order taken.
 */
const NEXT = `
local function take_ahead(k, a, q0, n)
  local ahead = {}
  local want = tonumber(ARGV[a + 10]) or 0
  if want == 0 or redis.call('EXISTS', KEYS[k]) == 1 then return ahead end
  for i = 1, n do
    while #ahead < want do
      local head = redis.call('LMOVE', KEYS[q0 + i - 1], KEYS[q0 + n + i - 1], 'LEFT', 'RIGHT')
      if not head then break end
      local hash = false
      for b = 1, 2 do
        if head == ARGV[a + 2 + b] and redis.call('TYPE', KEYS[k + 2 + b]).ok == 'hash' then
          hash = redis.call('HGETALL', KEYS[k + 2 + b])
          break
        end
      end
      ahead[#ahead + 1] = {i, head, hash}
    end
  end
  return ahead
end
local function take_next(k, a)
  if redis.call('EXISTS', KEYS[k]) == 1 then return {'suspended'} end
  local n = (#KEYS - k - 4) / 3
  local q0 = k + 5
  for i = 1, n do
    local head = redis.call('LINDEX', KEYS[q0 + i - 1], 0)
    if head then
      if head == ARGV[a + 1] and redis.call('TYPE', KEYS[k + 2]).ok == 'hash' then
        redis.call('LPOP', KEYS[q0 + i - 1])
        local ttl, hash = claim(KEYS[k + 2], KEYS[q0 + 2 * n + i - 1], KEYS[k + 1], head, ARGV[a + 5], tonumber(ARGV[a + 6]), tonumber(ARGV[a + 7]), ARGV[a + 8], ARGV[a + 9], true)
        local ahead = take_ahead(k, a, q0, n)
        return {'claimed', i, head, ttl, hash, peek(q0, n), ahead}
      end
      local id = redis.call('LMOVE', KEYS[q0 + i - 1], KEYS[q0 + n + i - 1], 'LEFT', 'RIGHT')
      return {'taken', i, id}
    end
  end
  return {'empty'}
end
local function start_held(k, a, want_hash)
  local n = (#KEYS - k - 4) / 3
  local q0 = k + 5
  local i = tonumber(ARGV[a + 2])
  local id = ARGV[a + 1]
  local job_key = KEYS[k + 2]
  local kind, ttl, hash = 'started', false, false
  local mine = redis.call('LREM', KEYS[q0 + n + i - 1], 1, id) == 1
  if redis.call('TYPE', job_key).ok ~= 'hash' then
    kind = 'gone'
  elseif not mine and redis.call('HGET', job_key, 'worker_name') == ARGV[a + 8] and redis.call('HGET', job_key, 'status') == 'started' then
    -- a retried call whose first attempt went through
    if want_hash then hash = redis.call('HGETALL', job_key) end
  else
    -- not in the intermediate list any more: maintenance put it back in its queue after a long
    -- stall; taking it out again keeps it from running twice
    if not mine then mine = redis.call('LREM', KEYS[q0 + i - 1], 1, id) == 1 end
    if mine then
      ttl, hash = claim(job_key, KEYS[q0 + 2 * n + i - 1], KEYS[k + 1], id, ARGV[a + 5], tonumber(ARGV[a + 6]), tonumber(ARGV[a + 7]), ARGV[a + 8], ARGV[a + 9], want_hash)
    else
      kind = 'lost'
    end
  end
  local ahead = take_ahead(k, a, q0, n)
  return {kind, i, id, ttl, hash, peek(q0, n), ahead}
end
local function next_job(k, a)
  local mode = ARGV[a]
  if mode == '1' then return take_next(k, a) end
  if mode == '2' or mode == '3' then return start_held(k, a, mode == '3') end
  return false
end
-- Replays. A call whose reply was lost (the connection dropped after Redis ran it) is sent again with
-- the same token and must not run twice: the worker hash keeps, per slot, the token of a call that
-- changed something and a summary of what it did, from which a repeat rebuilds the same reply. A
-- token ends in its call's sequence number, which picks one of 4 slots: a worker has at most 3
-- calls with tokens in flight (two outcome scripts, and the failure written for one that Redis
-- refused), so a slot is not reused while its call may be sent again.
local function next_summary(r, a)
  if not r then return {} end
  local s = {kind = r[1]}
  if r[2] then s.i = r[2]; s.id = r[3] end
  if r[4] then s.ttl = r[4] end
  if r[5] then s.h = true end
  if r[7] then
    s.a = {}
    for j, e in ipairs(r[7]) do
      local slot = 0
      if e[3] then
        if e[2] == ARGV[a + 3] then slot = 1 else slot = 2 end
      end
      s.a[j] = {e[1], e[2], slot}
    end
  end
  return s
end
local function next_rebuild(k, s)
  if not s.kind then return false end
  if s.kind == 'suspended' or s.kind == 'empty' then return {s.kind} end
  if s.kind == 'taken' then return {'taken', s.i, s.id} end
  local n = (#KEYS - k - 4) / 3
  local hash = false
  if s.h then hash = redis.call('HGETALL', KEYS[k + 2]) end
  local ahead = {}
  for j, e in ipairs(s.a or {}) do
    local h = false
    if e[3] > 0 then h = redis.call('HGETALL', KEYS[k + 2 + e[3]]) end
    ahead[j] = {e[1], e[2], h}
  end
  return {s.kind, s.i, s.id, s.ttl or false, hash, peek(k + 5, n), ahead}
end
local function call_slot(token)
  return 'rqts_call' .. (tonumber(string.match(token, '(%d+)$') or '0') % 4)
end
local function replayed(worker_key, token)
  if token == '' then return nil end
  local v = redis.call('HGET', worker_key, call_slot(token))
  if not v or string.sub(v, 1, #token + 1) ~= token .. ' ' then return nil end
  local ok, saved = pcall(cjson.decode, string.sub(v, #token + 2))
  if ok and type(saved) == 'table' then return saved end
  return nil
end
local function remember(worker_key, token, saved)
  if token ~= '' and redis.call('EXISTS', worker_key) == 1 then
    redis.call('HSET', worker_key, call_slot(token), token .. ' ' .. cjson.encode(saved))
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
   * Enqueue many jobs without dependencies in one call (enqueueMany): rqEnqueue for each, in order,
   * after checking every key's type first, so a chunk is written entirely or not at all. The jobs
   * of a chunk have the same hash fields; the field/value pairs every job shares are sent once and
   * the names of the others once, so each job carries only its id, options and own values.
   * KEYS: rq:queues, queue list, then per job: its hash, and when it has a ttl, its dependents and
   * dependencies sets (which get the same expiry).
   * ARGV: queue key (member of rq:queues), number of shared pairs s, the 2s shared items, number of
   * own fields v, their v names, then per job: id, at_front '1'|'0', ttl ('' = none), v values.
   * Returns the number of jobs enqueued.
   */
  rqEnqueueMany: `${TYPE_CHECK}
local err = expect_type(KEYS[2], 'list')
if err then return err end
local s = tonumber(ARGV[2])
local v = tonumber(ARGV[3 + 2 * s])
local names = 3 + 2 * s
local first = 4 + 2 * s + v
local k = 3
for a = first, #ARGV, 3 + v do
  err = expect_type(KEYS[k], 'hash')
  if err then return err end
  if ARGV[a + 2] ~= '' then k = k + 3 else k = k + 1 end
end
redis.call('SADD', KEYS[1], ARGV[1])
local fields = {}
for i = 1, 2 * s do fields[i] = ARGV[2 + i] end
k = 3
local n = 0
for a = first, #ARGV, 3 + v do
  for i = 1, v do
    fields[2 * s + 2 * i - 1] = ARGV[names + i]
    fields[2 * s + 2 * i] = ARGV[a + 2 + i]
  end
  redis.call('HSET', KEYS[k], unpack(fields))
  local ttl = ARGV[a + 2]
  if ttl ~= '' then
    redis.call('EXPIRE', KEYS[k], ttl)
    redis.call('EXPIRE', KEYS[k + 1], ttl)
    redis.call('EXPIRE', KEYS[k + 2], ttl)
    k = k + 3
  else
    k = k + 1
  end
  if ARGV[a + 1] == '1' then
    redis.call('LPUSH', KEYS[2], ARGV[a])
  else
    redis.call('RPUSH', KEYS[2], ARGV[a])
  end
  n = n + 1
end
return n
`,

  /**
   * Enqueue a job that depends on others (rq-wire-protocol.md §4.1): if every dependency is finished
   * (or failed, with allow_dependency_failures) it is enqueued as by rqEnqueue; otherwise it is
   * deferred: status `deferred`, DeferredJobRegistry, its id in each dependency's dependents set and
   * the dependency ids in its own dependencies set. A dependency whose hash does not exist is an
   * error and nothing is written.
   * KEYS: rq:queues, queue list, job hash, job dependents, job dependencies, deferred registry, then
   * per dependency: its job hash, its dependents set.
   * ARGV: queue key, job id, at_front, ttl ('' = none), now (epoch s), allow failures '1'|'0',
   * dependency count n, n dependency ids, then field, value, ...
   * Returns 'deferred' or 'queued'.
   */
  rqEnqueueDependent: `${TYPE_CHECK}
local err = expect_type(KEYS[2], 'list') or expect_type(KEYS[3], 'hash') or expect_type(KEYS[6], 'zset')
if err then return err end
local n = tonumber(ARGV[7])
local allow = ARGV[6] == '1'
local pending = false
for i = 1, n do
  local dep_key = KEYS[5 + 2 * i]
  if redis.call('EXISTS', dep_key) == 0 then
    return redis.error_reply('NODEP dependency ' .. ARGV[7 + i] .. ' does not exist')
  end
  local st = redis.call('HGET', dep_key, 'status')
  if st and st ~= 'finished' and not (allow and st == 'failed') then pending = true end
end
local first = 8 + n
redis.call('HSET', KEYS[3], unpack(ARGV, first))
if ARGV[4] ~= '' then
  redis.call('EXPIRE', KEYS[3], ARGV[4])
  redis.call('EXPIRE', KEYS[4], ARGV[4])
  redis.call('EXPIRE', KEYS[5], ARGV[4])
end
if pending then
  redis.call('HSET', KEYS[3], 'status', 'deferred')
  redis.call('HDEL', KEYS[3], 'enqueued_at')
  redis.call('ZADD', KEYS[6], ARGV[5], ARGV[2])
  for i = 1, n do
    redis.call('SADD', KEYS[6 + 2 * i], ARGV[2])
    redis.call('SADD', KEYS[5], ARGV[7 + i])
  end
  return 'deferred'
end
redis.call('SADD', KEYS[1], ARGV[1])
if ARGV[3] == '1' then redis.call('LPUSH', KEYS[2], ARGV[2]) else redis.call('RPUSH', KEYS[2], ARGV[2]) end
return 'queued'
`,

  /**
   * After a job ends: enqueue the dependents whose dependencies are now all met (finished, or
   * failed for a dependent that allows failures; a dependency whose hash is gone counts as met, as
   * in rq). A dependent is enqueued only while its status is still `deferred`, so two dependencies
   * finishing at once on two workers enqueue it exactly once.
   * KEYS: parent's dependents set, rq:queues, then per dependent: job, deferred registry of its
   * queue, its queue, then one job key per dependency of it.
   * ARGV: now (rq ts), delete the set afterwards '1'|'0', dependent count, then per dependent: id,
   * queue key, dependency count.
   * Returns the number of dependents enqueued.
   */
  rqEnqueueDependents: `
local k = 3
local a = 4
local enqueued = 0
for d = 1, tonumber(ARGV[3]) do
  local id, queue_member, ndeps = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
  local job_key, deferred_key, queue_key = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  local st = redis.call('HGET', job_key, 'status')
  if st == 'deferred' then
    local allow = redis.call('HGET', job_key, 'allow_dependency_failures') == '1'
    local met = true
    for i = 1, ndeps do
      local s = redis.call('HGET', KEYS[k + 2 + i], 'status')
      if s and s ~= 'finished' and not (allow and s == 'failed') then met = false end
    end
    if met then
      redis.call('ZREM', deferred_key, id)
      redis.call('HSET', job_key, 'status', 'queued', 'enqueued_at', ARGV[1])
      redis.call('SADD', KEYS[2], queue_member)
      if redis.call('HGET', job_key, 'enqueue_at_front') == '1' then
        redis.call('LPUSH', queue_key, id)
      else
        redis.call('RPUSH', queue_key, id)
      end
      redis.call('SREM', KEYS[1], id)
      enqueued = enqueued + 1
    end
  else
    redis.call('SREM', KEYS[1], id)
  end
  k = k + 3 + ndeps
  a = a + 3
end
if ARGV[2] == '1' or redis.call('SCARD', KEYS[1]) == 0 then redis.call('DEL', KEYS[1]) end
return enqueued
`,

  /**
   * Schedule a job (rq's enqueue_at/enqueue_in and retry intervals): ScheduledJobRegistry score =
   * the run time in epoch seconds, status `scheduled`, the queue known in rq:queues.
   * KEYS: rq:queues, scheduled registry, job hash, job dependents, job dependencies.
   * ARGV: queue key, job id, run time (epoch s), ttl ('' = none), field, value, ...
   */
  rqSchedule: `${TYPE_CHECK}
local err = expect_type(KEYS[2], 'zset') or expect_type(KEYS[3], 'hash')
if err then return err end
redis.call('HSET', KEYS[3], unpack(ARGV, 5))
redis.call('HSET', KEYS[3], 'status', 'scheduled')
redis.call('HDEL', KEYS[3], 'enqueued_at')
if ARGV[4] ~= '' then
  redis.call('EXPIRE', KEYS[3], ARGV[4])
  redis.call('EXPIRE', KEYS[4], ARGV[4])
  redis.call('EXPIRE', KEYS[5], ARGV[4])
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('SADD', KEYS[1], ARGV[1])
return 1
`,

  /**
   * The scheduler's move of due jobs (rq-wire-protocol.md §4.14): each id is moved only if this call
   * removes it from the ScheduledJobRegistry, so two schedulers never enqueue a job twice.
   * KEYS: scheduled registry, queue, rq:queues, then one job key per id. ARGV: queue key, now (rq ts), ids.
   * Returns the number of jobs enqueued.
   */
  rqEnqueueScheduled: `
local moved = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  local job_key = KEYS[i + 1]
  if redis.call('ZREM', KEYS[1], id) == 1 and redis.call('EXISTS', job_key) == 1 then
    redis.call('HSET', job_key, 'status', 'queued', 'enqueued_at', ARGV[2])
    if redis.call('HGET', job_key, 'enqueue_at_front') == '1' then
      redis.call('LPUSH', KEYS[2], id)
    else
      redis.call('RPUSH', KEYS[2], id)
    end
    moved = moved + 1
  end
end
if moved > 0 then redis.call('SADD', KEYS[3], ARGV[1]) end
return moved
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
  rqAbandonStarted: `${RETRY}
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 'gone' end
if redis.call('EXISTS', KEYS[2]) == 0 then return 'gone' end
local now = tonumber(ARGV[2])
local retried = retry(KEYS[2], KEYS[6], KEYS[7], KEYS[8], ARGV[6], ARGV[7], now, ARGV[5])
if retried then return retried end
local ttl = tonumber(redis.call('HGET', KEYS[2], 'failure_ttl')) or tonumber(ARGV[4])
-- junk ('nan', 1e20, 1.5) would make EXPIRE fail after the first writes
if ttl ~= ttl or math.abs(ttl) > 1e9 then ttl = tonumber(ARGV[4]) end
ttl = math.floor(ttl)
redis.call('HSET', KEYS[2], 'status', 'failed', 'exc_info', ARGV[3])
add_failed(KEYS[3], ARGV[7], now, ttl, KEYS[2], KEYS[4], KEYS[5])
return 'failed'
`,

  /**
   * The dequeue stage in one call (see NEXT).
   * KEYS: the NEXT block. ARGV: the NEXT block, replay token. Returns NEXT's reply.
   */
  rqTake: `${CLAIM}${NEXT}
local saved = replayed(KEYS[2], ARGV[12])
if saved then return next_rebuild(1, saved) end
local r = next_job(1, 1)
if r[1] ~= 'empty' and r[1] ~= 'suspended' then remember(KEYS[2], ARGV[12], next_summary(r, 1)) end
return r
`,

  /**
   * Register a job taken into an intermediate list by rqTake (see CLAIM), then peek at the next head.
   * KEYS: intermediate, job, wip, worker, queue 1..n. ARGV: id, now (rq ts), now (epoch s),
   * job monitoring interval, worker name, 'inline'|'process'.
   * Returns {ttl, hash, peeked ids}, or 0 if the job hash is gone (a deleted job: skipped,
   * as rq does), -1 if the key is not a hash.
   */
  rqClaim: `${CLAIM}
local t = redis.call('TYPE', KEYS[2]).ok
redis.call('LREM', KEYS[1], 1, ARGV[1])
if t ~= 'hash' then
  if t == 'none' then return 0 end
  return -1
end
local ttl, hash = claim(KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], ARGV[6], true)
return {ttl, hash, peek(5, #KEYS - 4)}
`,

  /**
   * A job succeeded (rq-wire-protocol.md §4.4): result stream, FinishedJobRegistry, TTLs by
   * result_ttl (0 deletes the job, -1 keeps it forever), out of wip, worker stats, worker idle.
   * A job deleted while it ran is not recreated. Then, if asked, the next job (NEXT), so that a busy
   * worker needs one round trip per job.
   * KEYS: job, wip, finished, results, worker, dependents, dependencies, then the NEXT block.
   * ARGV: id, ended_at (rq ts), result_ttl, now (epoch s), working time (s), worker idle ttl,
   * the 11 NEXT arguments (mode '0': none), replay token, then the result stream's field/value pairs.
   * Returns {outcome, NEXT's reply or false, number of dependents waiting}.
   */
  rqFinish: `${OUTCOME_CHECK}${CLAIM}${NEXT}
local function finish()
  local ttl = tonumber(ARGV[3])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[5], 'current_job')
  redis.call('HINCRBY', KEYS[5], 'successful_job_count', 1)
  redis.call('HINCRBYFLOAT', KEYS[5], 'total_working_time', ARGV[5])
  redis.call('HSET', KEYS[5], 'state', 'idle', 'current_job_working_time', '0', 'last_heartbeat', ARGV[2])
  redis.call('EXPIRE', KEYS[5], ARGV[6])
  if redis.call('EXISTS', KEYS[1]) == 0 then return 'gone' end
  if ttl == 0 then
    -- the dependents set goes after its dependents are enqueued (rqEnqueueDependents)
    redis.call('DEL', KEYS[1], KEYS[7], KEYS[4])
    return 'deleted'
  end
  redis.call('HSET', KEYS[1], 'status', 'finished', 'ended_at', ARGV[2])
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', '10', '*', unpack(ARGV, 19))
  if ttl > 0 then
    redis.call('EXPIRE', KEYS[4], ttl)
    redis.call('EXPIRE', KEYS[1], ttl)
    redis.call('EXPIRE', KEYS[6], ttl)
    redis.call('EXPIRE', KEYS[7], ttl)
    redis.call('ZADD', KEYS[3], tonumber(ARGV[4]) + ttl, ARGV[1])
  else
    redis.call('PERSIST', KEYS[4])
    redis.call('PERSIST', KEYS[1])
    redis.call('ZADD', KEYS[3], '+inf', ARGV[1])
  end
  return 'finished'
end
local saved = replayed(KEYS[5], ARGV[18])
if saved then return {saved.o, next_rebuild(8, saved.n), redis.call('SCARD', KEYS[6])} end
local bad = outcome_keys_refused()
if bad then return bad end
local outcome = finish()
local dependents = redis.call('SCARD', KEYS[6])
local nxt = next_job(8, 7)
remember(KEYS[5], ARGV[18], {o = outcome, n = next_summary(nxt, 7)})
return {outcome, nxt, dependents}
`,

  /**
   * A job failed or was stopped (rq-wire-protocol.md §4.5, §4.8, §4.9): out of wip, worker stats,
   * then retry if retries are left (not for stopped jobs), else status failed|stopped and, unless
   * the default exception handler is disabled, FailedJobRegistry + result stream + failure TTL.
   * Then, if asked, the next job (NEXT).
   * KEYS: job, wip, failed, results, worker, dependents, dependencies, queue, rq:queues, scheduled,
   * then the NEXT block.
   * ARGV: id, ended_at (rq ts), now (epoch s), failure ttl, failure ttl set on the job '1'|'0',
   * working time (s), worker idle ttl, status 'failed'|'stopped', default handler '1'|'0',
   * queue key (member of rq:queues), result type, exc_string (base64 of zlib), the 11 NEXT
   * arguments (mode '0': none), replay token.
   * Returns {'failed'|'stopped'|'requeued'|'scheduled'|'gone', NEXT's reply or false, dependents waiting}.
   */
  rqFail: `${OUTCOME_CHECK}${RETRY}${CLAIM}${NEXT}
local function fail()
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[5], 'current_job')
  redis.call('HINCRBY', KEYS[5], 'failed_job_count', 1)
  redis.call('HINCRBYFLOAT', KEYS[5], 'total_working_time', ARGV[6])
  redis.call('HSET', KEYS[5], 'state', 'idle', 'current_job_working_time', '0', 'last_heartbeat', ARGV[2])
  redis.call('EXPIRE', KEYS[5], ARGV[7])
  if redis.call('EXISTS', KEYS[1]) == 0 then return 'gone' end
  redis.call('HSET', KEYS[1], 'ended_at', ARGV[2])
  local now = tonumber(ARGV[3])
  if ARGV[8] ~= 'stopped' then
    local retried = retry(KEYS[1], KEYS[8], KEYS[9], KEYS[10], ARGV[10], ARGV[1], now, ARGV[2])
    if retried then return retried end
  end
  redis.call('HSET', KEYS[1], 'status', ARGV[8])
  if ARGV[9] ~= '1' then return ARGV[8] end
  local ttl = tonumber(ARGV[4])
  add_failed(KEYS[3], ARGV[1], now, ttl, KEYS[1], KEYS[6], KEYS[7])
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', '10', '*', 'type', ARGV[11], 'exc_string', ARGV[12])
  if ARGV[5] == '1' then
    if ttl > 0 then redis.call('EXPIRE', KEYS[4], ttl) else redis.call('PERSIST', KEYS[4]) end
  end
  return ARGV[8]
end
local saved = replayed(KEYS[5], ARGV[24])
if saved then return {saved.o, next_rebuild(11, saved.n), redis.call('SCARD', KEYS[6])} end
local bad = outcome_keys_refused() or expect_type(KEYS[8], 'list') or expect_type(KEYS[9], 'set') or expect_type(KEYS[10], 'zset')
if bad then return bad end
local outcome = fail()
local dependents = redis.call('SCARD', KEYS[6])
local nxt = next_job(11, 13)
remember(KEYS[5], ARGV[24], {o = outcome, n = next_summary(nxt, 13)})
return {outcome, nxt, dependents}
`,

  /**
   * Give back a job that was claimed ahead (by rqFinish/rqFail) but will not run because the worker
   * stops: out of wip, status queued, back at the head of its queue, worker no longer busy with it.
   * KEYS: job, wip, queue, worker. ARGV: id.
   */
  rqUnclaim: `
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'status', 'queued', 'started_at', '', 'worker_name', '')
  redis.call('LPUSH', KEYS[3], ARGV[1])
end
if redis.call('HGET', KEYS[4], 'current_job') == ARGV[1] then
  redis.call('HDEL', KEYS[4], 'current_job')
  redis.call('HSET', KEYS[4], 'state', 'idle')
end
return 1
`,

  /**
   * Give back a job taken ahead (NEXT's take_ahead) that this worker will not start: out of its
   * intermediate list, back at the head of its queue (where it was taken from).
   * KEYS: intermediate, queue. ARGV: id. Returns 1, or 0 if it was no longer in the intermediate list.
   */
  rqRelease: `
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
redis.call('LPUSH', KEYS[2], ARGV[1])
return 1
`,

  /**
   * Busy heartbeat (rq's maintain_heartbeats): never recreates a job key that was deleted.
   * KEYS: worker, job, wip. ARGV: worker ttl, now (rq ts), wip score, id, working time (s).
   */
  rqBusyHeartbeat: `
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], 'last_heartbeat', ARGV[2], 'current_job_working_time', ARGV[5])
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HSET', KEYS[2], 'last_heartbeat', ARGV[2])
end
redis.call('ZADD', KEYS[3], 'XX', ARGV[3], ARGV[4])
return 1
`,

  /**
   * An id left in an intermediate list (its worker died between taking and registering it): the
   * first sweep that sees it marks it; a later sweep, at least ARGV[3] seconds after, puts it back
   * at the head of its queue. Ids that made it into wip are only unlisted.
   * KEYS: intermediate, queue, wip, first-seen marker. ARGV: id, now (epoch s), grace seconds.
   * Returns 'started', 'gone', 'marked', 'waiting' or 'requeued'.
   */
  rqRecoverIntermediate: `
if redis.call('ZSCORE', KEYS[3], ARGV[1]) then
  redis.call('LREM', KEYS[1], 0, ARGV[1])
  redis.call('DEL', KEYS[4])
  return 'started'
end
if not redis.call('LPOS', KEYS[1], ARGV[1]) then
  redis.call('DEL', KEYS[4])
  return 'gone'
end
local seen = tonumber(redis.call('GET', KEYS[4]))
local now = tonumber(ARGV[2])
if not seen then
  redis.call('SET', KEYS[4], ARGV[2], 'EX', 86400)
  return 'marked'
end
if now - seen < tonumber(ARGV[3]) then return 'waiting' end
redis.call('LREM', KEYS[1], 1, ARGV[1])
redis.call('LPUSH', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[4])
return 'requeued'
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
type ScriptCaller = (numKeys: number, ...keysAndArgs: (string | Buffer)[]) => Promise<unknown>;

/**
 * Every script gets its arguments as one MessagePack array (msgpack.ts) and reads them through a
 * local ARGV that shadows Redis' own, so the scripts above index ARGV as usual.
 */
const UNPACK_ARGV = 'local ARGV = cmsgpack.unpack(ARGV[1])\n';

const prepared = new WeakSet<Redis>();

function prepare(connection: Redis): void {
  if (prepared.has(connection)) return;
  for (const [name, lua] of Object.entries(LUA)) {
    // defineCommand gives EVALSHA with a fallback to EVAL, in pipelines too, and a `${name}Buffer` twin.
    connection.defineCommand(name, { lua: UNPACK_ARGV + lua });
  }
  prepared.add(connection);
}

function caller(target: Redis | ChainableCommander, name: string): ScriptCaller {
  const fn = (target as unknown as Record<string, ScriptCaller | undefined>)[name];
  if (!fn) throw new Error(`Lua script ${name} is not defined on this connection; create pipelines with pipeline() or multi() from lib/redis`);
  return fn.bind(target);
}

/** Run a script and get its reply (strings). */
export function runScript(connection: Redis, name: ScriptName, keys: readonly string[], args: readonly PackedArg[]): Promise<unknown> {
  prepare(connection);
  return caller(connection, name)(keys.length, ...keys, packArgs(args));
}

/** Run a script and get its reply with bulk strings as Buffers. */
export function runScriptBuffer(connection: Redis, name: ScriptName, keys: readonly string[], args: readonly PackedArg[]): Promise<unknown> {
  prepare(connection);
  return caller(connection, `${name}Buffer`)(keys.length, ...keys, packArgs(args));
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
export function queueScript(target: ChainableCommander, name: ScriptName, keys: readonly string[], args: readonly PackedArg[]): void {
  void caller(target, name)(keys.length, ...keys, packArgs(args));
}
