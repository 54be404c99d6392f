--[[
  Enqueue a job that depends on others (rq-wire-protocol.md §4.1): if every dependency is finished
  (or failed, with allow_dependency_failures) it is enqueued as by rqEnqueue; otherwise it is
  deferred: status `deferred`, DeferredJobRegistry, its id in each dependency's dependents set and
  the dependency ids in its own dependencies set. A dependency whose hash does not exist is an
  error and nothing is written.

  KEYS
    1   queues         rq:queues
    2   queue          the queue's list
    3   job            the job's hash
    4   dependents     the job's dependents set
    5   dependencies   the job's dependencies set
    6   deferred       the queue's DeferredJobRegistry
    7.. perDependency  per dependency: its job hash, its dependents set

  ARGV
    queueMember     the queue's key: its member of rq:queues
    id              job id
    atFront         '1': at the head of the queue, '0': at the tail
    ttl             seconds the job's hash and sets live, '' = no expiry
    now             epoch seconds: the DeferredJobRegistry score
    allowFailures   '1': a failed dependency counts as met
    dependencyIds   list: the ids of the dependencies, in the order of perDependency
    fields          list: the job hash's field/value pairs

  Returns 'deferred' or 'queued'.
]]
-- @include typeCheck
local err = expect_type(KEYS[2], 'list') or expect_type(KEYS[3], 'hash') or expect_type(KEYS[6], 'zset')
if err then return err end
local n = #dependencyIds
local allow = allowFailures == '1'
local pending = false
for i = 1, n do
  local dep_key = KEYS[5 + 2 * i]
  if redis.call('EXISTS', dep_key) == 0 then
    return redis.error_reply('NODEP dependency ' .. dependencyIds[i] .. ' does not exist')
  end
  local st = redis.call('HGET', dep_key, 'status')
  if st and st ~= 'finished' and not (allow and st == 'failed') then pending = true end
end
redis.call('HSET', KEYS[3], unpack(fields))
if ttl ~= '' then
  redis.call('EXPIRE', KEYS[3], ttl)
  redis.call('EXPIRE', KEYS[4], ttl)
  redis.call('EXPIRE', KEYS[5], ttl)
end
if pending then
  redis.call('HSET', KEYS[3], 'status', 'deferred')
  redis.call('HDEL', KEYS[3], 'enqueued_at')
  redis.call('ZADD', KEYS[6], now, id)
  for i = 1, n do
    redis.call('SADD', KEYS[6 + 2 * i], id)
    redis.call('SADD', KEYS[5], dependencyIds[i])
  end
  return 'deferred'
end
redis.call('SADD', KEYS[1], queueMember)
if atFront == '1' then redis.call('LPUSH', KEYS[2], id) else redis.call('RPUSH', KEYS[2], id) end
return 'queued'
