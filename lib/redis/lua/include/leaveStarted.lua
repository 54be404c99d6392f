--[[
  leave_started(): what rqFinish and rqFail do alike (their KEYS 2, 5, 11, 12 and 13) before
  recording the outcome itself. The job `id` leaves its intermediate list (a starting script retried
  through an outage and run after this one then finds it recorded and claims nothing) and the
  StartedJobRegistry; protocol 2 (`execId` not empty) also ends the execution as rq 2.x's
  cleanup_execution does (its hash and its entry in the job's executions set). The worker hash adds
  `counts` ('' = nothing; else {successful, failed, working time in seconds}): this job's, with those
  of earlier jobs whose scripts left theirs to it (lib/PendingCounts.ts), as HINCRBY and HINCRBYFLOAT
  (rq's fields successful_job_count, failed_job_count, total_working_time).
  worker_idle(): the worker hash goes idle, unless the worker still runs another job (`stillRunning`,
  concurrency > 1). An outcome script that also asks for the next job calls it only when no claim
  followed (claimed_here, include/claim.lua): a claim makes the worker busy again at once, and the
  idle write in between (HDEL, HSET, EXPIRE) was three commands per job that nothing could see.
  leave_started() is the outcome scripts' first write: it returns the error reply when the
  intermediate list or the StartedJobRegistry is a stranger's key of another type, else nil. Their
  types are checked by their own LREM and ZREM, under pcall, instead of a command each beforehand
  (two commands less per job). When the ZREM fails, the id its LREM took out of the intermediate
  list (seldom there: only while a retried start is on its way) goes back at the list's tail, so
  that nothing is lost; its place in the list is the one thing such an error changes.
]]
-- @include typeCheck
-- @include counts
local function leave_started()
  local listed = redis.pcall('LREM', KEYS[11], '1', id)
  if type(listed) == 'table' then return (wrong_type(KEYS[11], 'list')) end
  local member = id
  if execId ~= '' then member = id .. ':' .. execId end
  if type(redis.pcall('ZREM', KEYS[2], member)) == 'table' then
    if listed == 1 then redis.call('RPUSH', KEYS[11], id) end
    return (wrong_type(KEYS[2], 'zset'))
  end
  if execId ~= '' then
    redis.call('DEL', KEYS[12])
    redis.call('ZREM', KEYS[13], execId)
    -- the worker hash's execution is this job's, or (concurrent jobs) one this script cannot name
    redis.call('HDEL', KEYS[5], 'rqts_execution')
  end
  add_counts(KEYS[5], counts)
  return nil
end
local function worker_idle()
  if stillRunning == '' then
    redis.call('HDEL', KEYS[5], 'current_job')
    redis.call('HSET', KEYS[5], 'state', 'idle', 'current_job_working_time', '0', 'last_heartbeat', endedAt)
  else
    if redis.call('HGET', KEYS[5], 'current_job') == id then redis.call('HSET', KEYS[5], 'current_job', stillRunning) end
    redis.call('HSET', KEYS[5], 'last_heartbeat', endedAt)
  end
  redis.call('EXPIRE', KEYS[5], workerTtl)
end
