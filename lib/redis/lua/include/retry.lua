--[[
  rq's retry (rq-wire-protocol.md §4.9) and the FailedJobRegistry entry, shared by the failure and
  the abandoned-job paths. retry() returns 'requeued' or 'scheduled' when the job had retries left,
  else nil.
]]
local function retry(job_key, queue_key, queues_key, scheduled_key, queue_member, id, now, now_ts)
  local retries = tonumber(redis.call('HGET', job_key, 'retries_left'))
  -- junk such as 'nan', '1e999' or 1e20 (where retries - 1 == retries) must not retry forever
  if not retries or retries ~= retries or retries <= 0 or retries > 1e9 then return nil end
  retries = math.floor(retries)
  local ok, intervals = pcall(cjson.decode, redis.call('HGET', job_key, 'retry_intervals') or '[0]')
  if not ok or type(intervals) ~= 'table' or #intervals == 0 then intervals = {0} end
  local idx = math.max(#intervals - retries, 0) + 1
  if idx > #intervals then idx = #intervals end
  local interval = tonumber(intervals[idx]) or 0
  redis.call('HSET', job_key, 'retries_left', retries - 1)
  redis.call('SADD', queues_key, queue_member)
  if interval > 0 then
    redis.call('HSET', job_key, 'status', 'scheduled')
    redis.call('ZADD', scheduled_key, math.floor(now + interval), id)
    return 'scheduled'
  end
  redis.call('HSET', job_key, 'status', 'queued', 'enqueued_at', now_ts)
  redis.call('RPUSH', queue_key, id)
  return 'requeued'
end
-- FailedJobRegistry for the failure ttl (score now + ttl, '+inf' when negative); with a positive
-- ttl the job's hash and its dependents/dependencies sets expire with the entry.
local function add_failed(failed_key, id, now, ttl, job_key, dependents_key, dependencies_key)
  local score = now + ttl
  if ttl < 0 then score = '+inf' end
  redis.call('ZADD', failed_key, score, id)
  if ttl > 0 then
    redis.call('EXPIRE', job_key, ttl)
    redis.call('EXPIRE', dependents_key, ttl)
    redis.call('EXPIRE', dependencies_key, ttl)
  end
end
