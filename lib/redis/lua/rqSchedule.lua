--[[
  Schedule a job (rq's enqueue_at/enqueue_in and retry intervals): ScheduledJobRegistry score = the
  run time in epoch seconds, status `scheduled`, the queue known in rq:queues.

  KEYS
    1 queues        rq:queues
    2 scheduled     the queue's ScheduledJobRegistry
    3 job           the job's hash
    4 dependents    the job's dependents set
    5 dependencies  the job's dependencies set

  ARGV
    queueMember  the queue's key: its member of rq:queues
    id           job id
    runAt        epoch seconds: when the job is due
    ttl          seconds the job's hash and sets live, '' = no expiry
    fields       list: the job hash's field/value pairs

  Returns 1.
]]
-- @include typeCheck
local err = expect_type(KEYS[2], 'zset') or expect_type(KEYS[3], 'hash')
if err then return err end
redis.call('HSET', KEYS[3], unpack(fields))
redis.call('HSET', KEYS[3], 'status', 'scheduled')
redis.call('HDEL', KEYS[3], 'enqueued_at')
if ttl ~= '' then
  redis.call('EXPIRE', KEYS[3], ttl)
  redis.call('EXPIRE', KEYS[4], ttl)
  redis.call('EXPIRE', KEYS[5], ttl)
end
redis.call('ZADD', KEYS[2], runAt, id)
redis.call('SADD', KEYS[1], queueMember)
return 1
