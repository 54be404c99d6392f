--[[
  A job succeeded (rq-wire-protocol.md §4.4): result stream, FinishedJobRegistry, TTLs by
  result_ttl from Redis's clock (0 deletes the job, -1 keeps it forever), out of wip, worker stats,
  worker idle. A job deleted while it ran is not recreated. rq 2.x's Repeat: a job with repeats left is
  recorded as finished, then queued again (or scheduled after its interval) with one repeat less, its
  hash kept (rq 2.10 worker/base.py handle_job_success, repeat.py). Then, if asked, the next job
  (include/next.lua), so that a busy worker needs one round trip per job.

  KEYS
    1   job           the job's hash
    2   wip           the StartedJobRegistry of the queue it was claimed from
    3   finished      that queue's FinishedJobRegistry
    4   results       the job's result stream
    5   worker        the worker's hash
    6   dependents    the job's dependents set
    7   dependencies  the job's dependencies set
    8   queue         that queue's list (a repeat goes back in)
    9   queues        rq:queues
    10  scheduled     that queue's ScheduledJobRegistry (a repeat after an interval)
    11  intermediate  the intermediate list of the queue it was claimed from
    12  execution     the execution's hash (protocol 2; any key when execId is '')
    13  executions    the job's executions set (protocol 2; any key when execId is '')
    14.. next         the NEXT block

  ARGV
    id                     job id
    endedAt                rq timestamp
    resultTtl              seconds; 0 deletes the job, -1 keeps it forever
    counts                 '' or {successful, failed, working seconds}: what the worker hash adds
                           (include/leaveStarted.lua)
    workerTtl              seconds the idle worker's hash lives
    stillRunning           '' or, for a worker running jobs concurrently, the id of another job it still
                           runs: the worker stays busy, naming that job if it named this one
    nextMode               the NEXT block's arguments (include/next.lua; 'none': no next job)
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
    result                 list: the result stream entry's field/value pairs
    plan                   '' when the job does not repeat, else {repeats left after this run, interval seconds}
    queueMember            the queue's key: its member of rq:queues
    execId                 the execution id the job ran under (protocol 2), '' for a bare registry member

  Returns {outcome: 'finished'|'deleted'|'gone'|'requeued'|'scheduled', number of dependents waiting,
  NEXT's reply...}: one flat list, with nothing after the count when no next job was asked for.
]]
-- @include now
-- @include next
-- @include outcomeCheck
-- @include leaveStarted
-- 2.x's _handle_success then Repeat.schedule: result and FinishedJobRegistry (unless result_ttl is
-- 0), no expiry on the job, then back in the queue or the ScheduledJobRegistry.
local function repeat_job(ttl)
  local now = redis_now()
  redis.call('HSET', KEYS[1], 'status', 'finished', 'ended_at', endedAt)
  if ttl ~= 0 then
    redis.call('XADD', KEYS[4], 'MAXLEN', '~', '10', '*', unpack(result))
    if ttl > 0 then
      redis.call('EXPIRE', KEYS[4], ttl)
      redis.call('ZADD', KEYS[3], now + ttl, id)
    else
      redis.call('PERSIST', KEYS[4])
      redis.call('ZADD', KEYS[3], '+inf', id)
    end
  end
  redis.call('HSET', KEYS[1], 'repeats_left', plan[1])
  redis.call('SADD', KEYS[9], queueMember)
  local interval = tonumber(plan[2]) or 0
  if interval > 0 then
    redis.call('HSET', KEYS[1], 'status', 'scheduled')
    redis.call('ZADD', KEYS[10], math.floor(now + interval), id)
    return 'scheduled'
  end
  redis.call('HSET', KEYS[1], 'status', 'queued', 'enqueued_at', endedAt)
  redis.call('RPUSH', KEYS[8], id)
  return 'requeued'
end
local function finish(dependents)
  local ttl = tonumber(resultTtl)
  if not job_exists then return 'gone' end
  if plan ~= '' then return repeat_job(ttl) end
  if ttl == 0 then
    -- the dependents set goes after its dependents are enqueued (rqEnqueueDependents)
    redis.call('DEL', KEYS[1], KEYS[7], KEYS[4])
    return 'deleted'
  end
  redis.call('HSET', KEYS[1], 'status', 'finished', 'ended_at', endedAt)
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', '10', '*', unpack(result))
  if ttl > 0 then
    local ttl_s = int(ttl)
    redis.call('EXPIRE', KEYS[4], ttl_s)
    redis.call('EXPIRE', KEYS[1], ttl_s)
    if dependents > 0 then redis.call('EXPIRE', KEYS[6], ttl_s) end
    if dependencies_exist then redis.call('EXPIRE', KEYS[7], ttl_s) end
    redis.call('ZADD', KEYS[3], int(redis_now() + ttl), id)
  else
    redis.call('PERSIST', KEYS[4])
    redis.call('PERSIST', KEYS[1])
    redis.call('ZADD', KEYS[3], '+inf', id)
  end
  return 'finished'
end
local saved, bad = replayed(KEYS[5], token)
if bad then return bad end
if saved then return next_rebuild(14, saved, {saved.o, redis.call('SCARD', KEYS[6])}) end
bad = outcome_keys_refused(token ~= '')
  or (plan ~= '' and (expect_type(KEYS[8], 'list') or expect_type(KEYS[9], 'set') or expect_type(KEYS[10], 'zset')))
if bad then return bad end
-- read first: finish() sets a TTL on the dependents set only when there is one
local dependents = 0
if dependents_exist then dependents = redis.call('SCARD', KEYS[6]) end
bad = leave_started()
if bad then return bad end
local outcome = finish(dependents)
local reply = next_job(14, {outcome, dependents})
if not claimed_here then worker_idle() end
remember(KEYS[5], token, next_summary(outcome, reply, 3), true)
return reply
