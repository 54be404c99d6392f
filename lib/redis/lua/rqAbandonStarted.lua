--[[
  An expired StartedJobRegistry entry (its worker stopped heart-beating): rq 1.13's cleanup.
  Retries left -> requeued (or scheduled after the retry interval); else failed with exc_info.
  The ZREM decides who handles the entry, so two concurrent cleaners never both move it.

  KEYS
    1 wip           the queue's StartedJobRegistry
    2 job           the job's hash
    3 failed        the queue's FailedJobRegistry
    4 dependents    the job's dependents set
    5 dependencies  the job's dependencies set
    6 queue         the queue's list
    7 queues        rq:queues
    8 scheduled     the queue's ScheduledJobRegistry

  ARGV
    member             the wip entry (`id:execid` in rq 2.x data)
    excInfo            exc_info (zlib)
    defaultFailureTtl  seconds, when the job has no failure_ttl
    nowTs              now, rq timestamp
    queueMember        the queue's key: its member of rq:queues
    id                 job id

  Returns 'failed', 'requeued', 'scheduled' or 'gone'.
]]
-- @include retry
-- @include now
if redis.call('ZREM', KEYS[1], member) == 0 then return 'gone' end
if redis.call('EXISTS', KEYS[2]) == 0 then return 'gone' end
local now_s = redis_now()
local retried = retry(KEYS[2], KEYS[6], KEYS[7], KEYS[8], queueMember, id, now_s, nowTs)
if retried then return retried end
local ttl = tonumber(redis.call('HGET', KEYS[2], 'failure_ttl')) or tonumber(defaultFailureTtl)
-- junk ('nan', 1e20, 1.5) would make EXPIRE fail after the first writes
if ttl ~= ttl or math.abs(ttl) > 1e9 then ttl = tonumber(defaultFailureTtl) end
ttl = math.floor(ttl)
redis.call('HSET', KEYS[2], 'status', 'failed', 'exc_info', excInfo)
add_failed(KEYS[3], id, now_s, ttl, KEYS[2], KEYS[4], KEYS[5])
return 'failed'
