--[[
  Give back a job that was claimed ahead (by rqFinish/rqFail) but will not run because the worker
  stops: out of wip, status queued, back at the head of its queue, worker no longer busy with it.

  KEYS
    1 job     the job's hash
    2 wip     the StartedJobRegistry of the queue it was claimed from
    3 queue   that queue's list
    4 worker      the worker's hash
    5 execution   the execution's hash (protocol 2; any key when execId is '')
    6 executions  the job's executions set (protocol 2; any key when execId is '')

  ARGV
    id      job id
    execId  the execution id it was claimed under (protocol 2: its execution ends), '' for protocol 1

  Returns 1, or 0 if it was no longer in wip.
]]
local member = id
if execId ~= '' then member = id .. ':' .. execId end
if redis.call('ZREM', KEYS[2], member) == 0 then return 0 end
if execId ~= '' then
  redis.call('DEL', KEYS[5])
  redis.call('ZREM', KEYS[6], execId)
  redis.call('HDEL', KEYS[4], 'rqts_execution')
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'status', 'queued', 'started_at', '', 'worker_name', '')
  redis.call('LPUSH', KEYS[3], id)
end
if redis.call('HGET', KEYS[4], 'current_job') == id then
  redis.call('HDEL', KEYS[4], 'current_job')
  redis.call('HSET', KEYS[4], 'state', 'idle')
end
return 1
