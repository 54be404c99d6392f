--[[
  Busy heartbeat (rq's maintain_heartbeats): never recreates a job key that was deleted.

  KEYS
    1 worker  the worker's hash
    2 job     the hash of the job it runs
    3 wip     the StartedJobRegistry of the queue the job was claimed from

  ARGV
    workerTtl    seconds the worker's hash lives, and the job's StartedJobRegistry entry (from Redis's clock)
    nowTs        now, rq timestamp
    id           job id
    workingTime  seconds the job has run

  Returns 1.
]]
-- @include now
redis.call('EXPIRE', KEYS[1], workerTtl)
redis.call('HSET', KEYS[1], 'last_heartbeat', nowTs, 'current_job_working_time', workingTime)
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HSET', KEYS[2], 'last_heartbeat', nowTs)
end
redis.call('ZADD', KEYS[3], 'XX', redis_now() + tonumber(workerTtl), id)
return 1
