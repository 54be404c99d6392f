--[[
  Busy heartbeat (rq's maintain_heartbeats): never recreates a job key that was deleted.

  KEYS
    1 worker  the worker's hash
    2 job     the hash of the job it runs
    3 wip         the StartedJobRegistry of the queue the job was claimed from
    4 execution   the execution's hash (protocol 2; any key when execId is '')
    5 executions  the job's executions set (protocol 2; any key when execId is '')

  ARGV
    workerTtl    seconds the worker's hash lives, and the job's StartedJobRegistry entry (from Redis's clock)
    nowTs        now, rq timestamp
    id           job id
    workingTime  seconds the job has run
    execId       the execution id the job was claimed under (protocol 2), '' for a bare registry member

  Protocol 2 refreshes the execution as rq 2.x's Execution.heartbeat: its hash's last_heartbeat and
  TTL, its `<id>:<execId>` registry member (XX) and its entry in the job's executions set; an
  execution whose hash is gone (its outcome recorded meanwhile) is not recreated.

  Returns 1.
]]
-- @include now
redis.call('EXPIRE', KEYS[1], workerTtl)
redis.call('HSET', KEYS[1], 'last_heartbeat', nowTs, 'current_job_working_time', workingTime)
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HSET', KEYS[2], 'last_heartbeat', nowTs)
end
local now = redis_now()
if execId == '' then
  redis.call('ZADD', KEYS[3], 'XX', now + tonumber(workerTtl), id)
elseif redis.call('EXISTS', KEYS[4]) == 1 then
  local t = redis.call('TIME')
  redis.call('HSET', KEYS[4], 'last_heartbeat', tonumber(t[1]) + tonumber(t[2]) / 1e6)
  redis.call('EXPIRE', KEYS[4], workerTtl)
  redis.call('ZADD', KEYS[3], 'XX', now + tonumber(workerTtl), id .. ':' .. execId)
  redis.call('ZADD', KEYS[5], now + tonumber(workerTtl) + 60, execId)
  redis.call('EXPIRE', KEYS[5], tonumber(workerTtl) + 60)
end
return 1
