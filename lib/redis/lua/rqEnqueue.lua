--[[
  Enqueue one job (rq-wire-protocol.md §4.1).

  KEYS
    1 queues        rq:queues
    2 queue         the queue's list
    3 job           the job's hash
    4 dependents    the job's dependents set
    5 dependencies  the job's dependencies set

  ARGV
    queueMember  the queue's key: its member of rq:queues
    id           job id
    atFront      '1': at the head of the queue, '0': at the tail
    ttl          seconds the job's hash and sets live, '' = no expiry
    fields       list: the job hash's field/value pairs

  Returns the queue's length.
]]
-- @include typeCheck
local err = expect_type(KEYS[2], 'list') or expect_type(KEYS[3], 'hash')
if err then return err end
redis.call('SADD', KEYS[1], queueMember)
redis.call('HSET', KEYS[3], unpack(fields))
if ttl ~= '' then
  redis.call('EXPIRE', KEYS[3], ttl)
  redis.call('EXPIRE', KEYS[4], ttl)
  redis.call('EXPIRE', KEYS[5], ttl)
end
if atFront == '1' then
  return redis.call('LPUSH', KEYS[2], id)
end
return redis.call('RPUSH', KEYS[2], id)
