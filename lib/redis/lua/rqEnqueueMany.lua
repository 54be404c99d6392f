--[[
  Enqueue many jobs without dependencies in one call (enqueueMany): rqEnqueue for each, in order,
  after checking every key's type first, so a chunk is written entirely or not at all. The jobs of a
  chunk have the same hash fields; the field/value pairs every job shares are sent once and the
  names of the others once, so each job carries only its id, options and own values.

  KEYS
    1   queues  rq:queues
    2   queue   the queue's list
    3.. jobs    per job: its hash, and when it has a ttl, its dependents and dependencies sets (which
                get the same expiry)

  ARGV
    queueMember  the queue's key: its member of rq:queues
    shared       list: the field/value pairs every job's hash has
    own          list: the names of the fields whose values differ
    jobs         list, per job: id, atFront '1'|'0', ttl ('' = none), then its values of `own`

  Returns the number of jobs enqueued.
]]
-- @include typeCheck
local err = expect_type(KEYS[2], 'list')
if err then return err end
local v = #own
local k = 3
for a = 1, #jobs, 3 + v do
  err = expect_type(KEYS[k], 'hash')
  if err then return err end
  if jobs[a + 2] ~= '' then k = k + 3 else k = k + 1 end
end
redis.call('SADD', KEYS[1], queueMember)
local s = #shared
local fields = {}
for i = 1, s do fields[i] = shared[i] end
k = 3
local n = 0
for a = 1, #jobs, 3 + v do
  for i = 1, v do
    fields[s + 2 * i - 1] = own[i]
    fields[s + 2 * i] = jobs[a + 2 + i]
  end
  redis.call('HSET', KEYS[k], unpack(fields))
  local ttl = jobs[a + 2]
  if ttl ~= '' then
    redis.call('EXPIRE', KEYS[k], ttl)
    redis.call('EXPIRE', KEYS[k + 1], ttl)
    redis.call('EXPIRE', KEYS[k + 2], ttl)
    k = k + 3
  else
    k = k + 1
  end
  if jobs[a + 1] == '1' then
    redis.call('LPUSH', KEYS[2], jobs[a])
  else
    redis.call('RPUSH', KEYS[2], jobs[a])
  end
  n = n + 1
end
return n
