--[[
  The scheduler's move of due jobs (rq-wire-protocol.md §4.14): each id is moved only if this call
  removes it from the ScheduledJobRegistry, so two schedulers never enqueue a job twice.

  KEYS
    1   scheduled  the queue's ScheduledJobRegistry
    2   queue      the queue's list
    3   queues     rq:queues
    4.. jobs       one job hash per id

  ARGV
    queueMember  the queue's key: its member of rq:queues
    enqueuedAt   now, rq timestamp
    ids          list: the due job ids

  Returns the number of jobs enqueued.
]]
local moved = 0
for i, id in ipairs(ids) do
  local job_key = KEYS[i + 3]
  if redis.call('ZREM', KEYS[1], id) == 1 and redis.call('EXISTS', job_key) == 1 then
    redis.call('HSET', job_key, 'status', 'queued', 'enqueued_at', enqueuedAt)
    if redis.call('HGET', job_key, 'enqueue_at_front') == '1' then
      redis.call('LPUSH', KEYS[2], id)
    else
      redis.call('RPUSH', KEYS[2], id)
    end
    moved = moved + 1
  end
end
if moved > 0 then redis.call('SADD', KEYS[3], queueMember) end
return moved
