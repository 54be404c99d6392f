--[[
  claim(): register a job as started (rq-wire-protocol.md §4.3, in one script instead of rq's
  pipeline): job status/started_at/worker_name/last_heartbeat, PERSIST (its queued ttl no longer
  applies), StartedJobRegistry, worker busy with current_job. The heartbeat TTL follows rq's rule
  from the job's own timeout: 'inline' (SimpleWorker) = (timeout or 420) + 60, else
  min(timeout, interval) + 60 (interval: the jobMonitoringInterval argument, seconds); the
  StartedJobRegistry score is Redis's clock + that TTL.
  exec_id '' (protocol 1, as rq 1.13): the registry member is the bare id, and nothing more is written.
  Else (protocol 2, rq 2.x's prepare_execution): the member is `<id>:<exec_id>`, the execution hash
  (id, created_at, last_heartbeat; expires with the TTL) and the job's executions set (scored Redis's
  clock + TTL + 60, expiring TTL + 60, as ExecutionRegistry.add) are written, and the worker hash
  keeps the execution id (rqts_execution) for the worker process's heartbeat of a horse's job.
  peek(from, n, count, into): appends the first `count` heads of the queues, in priority order, to
  `into`; returns how many.
  The worker hash's busy fields and TTL are written at once, unless the script defers them
  (claim_deferred: it calls remember(), include/next.lua, which writes them with its replay summary
  in one HSET: a command less per job).
]]
-- @include now
-- whether this script call claimed a job (the worker hash is busy with it): see worker_idle()
local claimed_here = false
local claim_deferred = false
-- the worker hash's fields and TTL a deferred claim left to write, or nil
local worker_busy, worker_busy_ttl
-- ttl_of(job_key, mode, interval): the heartbeat TTL from the job's timeout in Redis
local function ttl_of(job_key, mode, interval)
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
  return math.ceil(ttl)
end
-- known_ttl: the TTL the worker computed from the hash it holds (nil: from Redis)
local function claim(job_key, wip_key, worker_key, id, now_ts, interval, worker_name, mode, exec_id, exec_key, execs_key, known_ttl)
  local ttl = known_ttl or ttl_of(job_key, mode, tonumber(interval))
  claimed_here = true
  redis.call('HSET', job_key, 'status', 'started', 'started_at', now_ts, 'worker_name', worker_name, 'last_heartbeat', now_ts)
  redis.call('PERSIST', job_key)
  local busy = {'current_job', id, 'current_job_working_time', '0', 'state', 'busy', 'last_heartbeat', now_ts}
  if exec_id == '' then
    redis.call('ZADD', wip_key, int(redis_now() + ttl), id)
  else
    local t = redis.call('TIME')
    local now = tonumber(t[1])
    local created = now + tonumber(t[2]) / 1e6
    redis.call('ZADD', wip_key, now + ttl, id .. ':' .. exec_id)
    redis.call('HSET', exec_key, 'id', exec_id, 'created_at', created, 'last_heartbeat', created)
    redis.call('EXPIRE', exec_key, ttl)
    redis.call('ZADD', execs_key, now + ttl + 60, exec_id)
    redis.call('EXPIRE', execs_key, ttl + 60)
    busy[#busy + 1] = 'rqts_execution'
    busy[#busy + 1] = exec_id
  end
  if claim_deferred then
    worker_busy, worker_busy_ttl = busy, ttl
  else
    redis.call('HSET', worker_key, unpack(busy))
    redis.call('EXPIRE', worker_key, int(ttl))
  end
end
-- peek(from, n, count, into): the queue heads (KEYS[from .. from+n-1]), ids only (see above)
local function peek(from, n, count, into)
  count = math.max(1, math.min(tonumber(count) or 2, 1000))
  local found = 0
  for i = 0, n - 1 do
    local heads = redis.call('LRANGE', KEYS[from + i], '0', int(count - 1 - found))
    for _, id in ipairs(heads) do
      found = found + 1
      into[#into + 1] = id
    end
    if found >= count then break end
  end
  return found
end
