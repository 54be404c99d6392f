--[[
  claim(): register a job as started (rq-wire-protocol.md §4.3, in one script instead of rq's
  pipeline): job status/started_at/worker_name/last_heartbeat, PERSIST (its queued ttl no longer
  applies), StartedJobRegistry, worker busy with current_job. The heartbeat TTL follows rq's rule
  from the job's own timeout: 'inline' (SimpleWorker) = (timeout or 420) + 60, else
  min(timeout, interval) + 60; the StartedJobRegistry score is Redis's clock + that TTL. Returns the TTL and, when asked, the job's hash.
  peek(): the first two heads of the queues, in priority order.
]]
-- @include now
local function claim(job_key, wip_key, worker_key, id, now_ts, interval, worker_name, mode, want_hash)
  local timeout = tonumber(redis.call('HGET', job_key, 'timeout')) or 180
  -- junk ('1e309', 'nan', 1e20) would make EXPIRE fail half-way through the claim: the default, as
  -- the worker's own parser (parseTimeout) takes it
  if timeout ~= timeout or timeout > 1e9 or timeout < -1e9 then timeout = 180 end
  local ttl
  if mode == 'inline' then
    if timeout <= 0 then ttl = 420 else ttl = timeout + 60 end
  elseif timeout > 0 then
    ttl = math.min(timeout, interval) + 60
  else
    ttl = interval + 60
  end
  ttl = math.ceil(ttl)
  redis.call('HSET', job_key, 'status', 'started', 'started_at', now_ts, 'worker_name', worker_name, 'last_heartbeat', now_ts)
  redis.call('PERSIST', job_key)
  redis.call('ZADD', wip_key, redis_now() + ttl, id)
  redis.call('HSET', worker_key, 'current_job', id, 'current_job_working_time', '0', 'state', 'busy', 'last_heartbeat', now_ts)
  redis.call('EXPIRE', worker_key, ttl)
  if want_hash then return ttl, redis.call('HGETALL', job_key) end
  return ttl, false
end
-- the first two heads of the queues (priority order) from KEYS[from .. from+n-1]: ids only
local function peek(from, n)
  local ids = {}
  for i = 0, n - 1 do
    local heads = redis.call('LRANGE', KEYS[from + i], 0, 1 - #ids)
    for _, id in ipairs(heads) do ids[#ids + 1] = id end
    if #ids >= 2 then break end
  end
  return ids
end
