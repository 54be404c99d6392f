--[[
  Group commit (GroupCommit in plugins/CleanupPlugin.ts): the successes of several jobs of a SimpleWorker recorded in one
  call, then, if asked, the next job (include/next.lua). A job either was claimed as today (in the
  StartedJobRegistry) or ran straight from its intermediate list without a start script, short jobs
  of a busy worker: then its hash gets its start and its end in one HSET (status finished,
  started_at, worker_name, last_heartbeat, ended_at). Per job otherwise as rqFinish: result stream,
  TTLs by result_ttl from Redis's clock (0 deletes the job, -1 keeps it forever), FinishedJobRegistry,
  out of its intermediate list and the StartedJobRegistry; a job deleted while it ran is not
  recreated. The worker hash adds the counts and names the job the worker runs now, or goes idle.
  Every key of every job is checked before the first write: one of another type refuses the whole
  call (the worker then records these jobs one by one, and the one at fault as failed).

  KEYS
    1   worker        the worker's hash
    2.. rest          per job, 8 keys: job, FinishedJobRegistry, result stream, dependents set,
                      dependencies set, intermediate list, queue, StartedJobRegistry (of the queue it
                      was taken from); then the NEXT block

  ARGV
    ids                    list: the jobs' ids
    startedAt              list: rq timestamps
    endedAt                list: rq timestamps
    resultTtls             list: seconds; 0 deletes the job, -1 keeps it forever
    claimed                list: '1' for a job in the StartedJobRegistry, '0' for one that ran from its intermediate list
    results                list of lists: each job's result stream entry (field/value pairs)
    counts                 '' or {successful, failed, working seconds}: what the worker hash adds
    workerTtl              seconds the worker's hash lives
    busyWith               '' or the job the worker runs now, started without a script: the hash names it
    nextMode               the NEXT block's arguments (include/next.lua)
    nextId
    nextQueue
    claimedAt
    jobMonitoringInterval
    workerName
    claimMode
    takeAhead
    nextExecId
    peekCount
    nextTtl
    token                  replay token ('' = none)

  Returns one flat list: the outcomes as one string, a letter per job (f finished, d deleted by
  result_ttl 0, g gone: deleted while it ran), how many dependents wait for each job, then NEXT's reply.
]]
-- @include now
-- @include next
-- @include typeCheck
-- @include counts
local m = #ids
local k = 2 + 8 * m
local saved, bad = replayed(KEYS[1], token)
if bad then return bad end
if saved then
  local reply = {saved.o}
  for j = 1, m do reply[j + 1] = redis.call('SCARD', KEYS[8 * j - 3]) end
  return next_rebuild(k, saved, reply)
end
-- what each job has: its hash, a result stream, dependents, dependencies (most have none of the sets)
local has = {}
local checked = {}
local function check(key, wanted)
  if checked[key] then return nil end
  checked[key] = true
  return (expect_type(key, wanted))
end
for j = 1, m do
  local b = 8 * j - 6
  local t
  bad, t = expect_type(KEYS[b], 'hash')
  if bad then return bad end
  bad = check(KEYS[b + 1], 'zset')
  if bad then return bad end
  local h = {job = t == 'hash'}
  if redis.call('EXISTS', KEYS[b + 2], KEYS[b + 3], KEYS[b + 4]) > 0 then
    bad = expect_type(KEYS[b + 2], 'stream')
    if not bad then bad, t = expect_type(KEYS[b + 3], 'set') end
    if bad then return bad end
    h.dependents = t == 'set'
    bad, t = expect_type(KEYS[b + 4], 'set')
    if bad then return bad end
    h.dependencies = t == 'set'
  end
  has[j] = h
end
for j = 1, m do
  bad = check(KEYS[8 * j - 1], 'list') or check(KEYS[8 * j + 1], 'zset')
  if bad then return bad end
end
local outcomes = {}
local reply = {''}
for j = 1, m do
  local b = 8 * j - 6
  local id = ids[j]
  local h = has[j]
  if redis.call('LREM', KEYS[b + 5], '1', id) == 0 and claimed[j] == '0' then
    -- not in its intermediate list: maintenance put it back in its queue after a long stall; taking it
    -- out again keeps it from running twice
    redis.pcall('LREM', KEYS[b + 6], '1', id)
  end
  if claimed[j] == '1' then redis.call('ZREM', KEYS[b + 7], id) end
  local dependents = 0
  if h.dependents then dependents = redis.call('SCARD', KEYS[b + 3]) end
  local ttl = tonumber(resultTtls[j])
  if not h.job then
    outcomes[j] = 'g'
  elseif ttl == 0 then
    -- the dependents set goes after its dependents are enqueued (rqEnqueueDependents)
    redis.call('DEL', KEYS[b], KEYS[b + 4], KEYS[b + 2])
    outcomes[j] = 'd'
  else
    if claimed[j] == '1' then
      redis.call('HSET', KEYS[b], 'status', 'finished', 'ended_at', endedAt[j])
    else
      redis.call('HSET', KEYS[b], 'status', 'finished', 'started_at', startedAt[j], 'worker_name', workerName, 'last_heartbeat', startedAt[j], 'ended_at', endedAt[j])
    end
    redis.call('XADD', KEYS[b + 2], 'MAXLEN', '~', '10', '*', unpack(results[j]))
    if ttl > 0 then
      local ttl_s = int(ttl)
      redis.call('EXPIRE', KEYS[b + 2], ttl_s)
      redis.call('EXPIRE', KEYS[b], ttl_s)
      if dependents > 0 then redis.call('EXPIRE', KEYS[b + 3], ttl_s) end
      if h.dependencies then redis.call('EXPIRE', KEYS[b + 4], ttl_s) end
      redis.call('ZADD', KEYS[b + 1], int(redis_now() + ttl), id)
    else
      redis.call('PERSIST', KEYS[b + 2])
      redis.call('PERSIST', KEYS[b])
      redis.call('ZADD', KEYS[b + 1], '+inf', id)
    end
    outcomes[j] = 'f'
  end
  reply[j + 1] = dependents
end
add_counts(KEYS[1], counts)
-- 'o' before the letters: a replay summary's outcome is never empty
reply[1] = 'o' .. table.concat(outcomes)
reply = next_job(k, reply)
if not claimed_here then
  -- no claim wrote the worker's state: it runs the job named, or idles
  -- no job recorded (a 2 ms claim alone, whose job was taken back meanwhile): the claim's time
  local ended = endedAt[m] or claimedAt
  if busyWith ~= '' then
    worker_busy = {'state', 'busy', 'current_job', busyWith, 'current_job_working_time', '0', 'last_heartbeat', ended}
  else
    redis.call('HDEL', KEYS[1], 'current_job')
    worker_busy = {'state', 'idle', 'current_job_working_time', '0', 'last_heartbeat', ended}
  end
  worker_busy_ttl = workerTtl
end
remember(KEYS[1], token, next_summary(reply[1], reply, m + 2), true)
return reply
