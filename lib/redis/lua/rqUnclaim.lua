--[[
  Give back a job that was claimed ahead (by rqFinish/rqFail) but will not run because the worker
  stops: out of wip, status queued, back at the head of its queue, worker no longer busy with it.

  KEYS
    1 job     the job's hash
    2 wip     the StartedJobRegistry of the queue it was claimed from
    3 queue   that queue's list
    4 worker  the worker's hash

  ARGV
    id  job id

  Returns 1, or 0 if it was no longer in wip.
]]
if redis.call('ZREM', KEYS[2], id) == 0 then return 0 end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'status', 'queued', 'started_at', '', 'worker_name', '')
  redis.call('LPUSH', KEYS[3], id)
end
if redis.call('HGET', KEYS[4], 'current_job') == id then
  redis.call('HDEL', KEYS[4], 'current_job')
  redis.call('HSET', KEYS[4], 'state', 'idle')
end
return 1
