--[[
  A job failed or was stopped (rq-wire-protocol.md §4.5, §4.8, §4.9): out of wip, worker stats,
  then retry if retries are left (not for stopped jobs), else status failed|stopped and, unless the
  default exception handler is disabled, FailedJobRegistry + result stream + failure TTL. Then, if
  asked, the next job (include/next.lua).

  KEYS
    1   job           the job's hash
    2   wip           the StartedJobRegistry of the queue it was claimed from
    3   failed        that queue's FailedJobRegistry
    4   results       the job's result stream
    5   worker        the worker's hash
    6   dependents    the job's dependents set
    7   dependencies  the job's dependencies set
    8   queue         that queue's list (a retry goes back in)
    9   queues        rq:queues
    10  scheduled     that queue's ScheduledJobRegistry (a retry after an interval)
    11  intermediate  that queue's intermediate list
    12  execution     the execution's hash (protocol 2; any key when execId is '')
    13  executions    the job's executions set (protocol 2; any key when execId is '')
    14.. next         the NEXT block

  ARGV
    id                     job id
    endedAt                rq timestamp
    failureTtl             seconds
    failureTtlSet          '1' when the job sets its own failure ttl (then it applies to the result stream)
    counts                 '' or {successful, failed, working seconds}: what the worker hash adds
                           (include/leaveStarted.lua)
    workerTtl              seconds the idle worker's hash lives
    stillRunning           '' or, for a worker running jobs concurrently, the id of another job it still
                           runs: the worker stays busy, naming that job if it named this one
    status                 'failed' | 'stopped'
    defaultHandler         '1': rq's default exception handler runs (FailedJobRegistry, result stream)
    queueMember            the queue's key: its member of rq:queues
    result                 list: the result stream entry's field/value pairs
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
    execId                 the execution id the job ran under (protocol 2), '' for a bare registry member

  Returns {'failed'|'stopped'|'requeued'|'scheduled'|'gone', number of dependents waiting,
  NEXT's reply...}: one flat list, with nothing after the count when no next job was asked for.
]]
-- @include now
-- @include retry
-- @include next
-- @include outcomeCheck
-- @include leaveStarted
local function fail()
  if not job_exists then return 'gone' end
  redis.call('HSET', KEYS[1], 'ended_at', endedAt)
  -- the FailedJobRegistry score and a retry's schedule: Redis's clock, the one all workers share
  local now = redis_now()
  if status ~= 'stopped' then
    local retried = retry(KEYS[1], KEYS[8], KEYS[9], KEYS[10], queueMember, id, now, endedAt)
    if retried then return retried end
  end
  redis.call('HSET', KEYS[1], 'status', status)
  if defaultHandler ~= '1' then return status end
  local ttl = tonumber(failureTtl)
  add_failed(KEYS[3], id, now, ttl, KEYS[1], KEYS[6], KEYS[7])
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', '10', '*', unpack(result))
  if failureTtlSet == '1' then
    if ttl > 0 then redis.call('EXPIRE', KEYS[4], ttl) else redis.call('PERSIST', KEYS[4]) end
  end
  return status
end
local saved, bad = replayed(KEYS[5], token)
if bad then return bad end
if saved then return next_rebuild(14, saved, {saved.o, redis.call('SCARD', KEYS[6])}) end
bad = outcome_keys_refused(token ~= '') or expect_type(KEYS[8], 'list') or expect_type(KEYS[9], 'set') or expect_type(KEYS[10], 'zset')
if bad then return bad end
local dependents = 0
if dependents_exist then dependents = redis.call('SCARD', KEYS[6]) end
bad = leave_started()
if bad then return bad end
local outcome = fail()
local reply = next_job(14, {outcome, dependents})
if not claimed_here then worker_idle() end
remember(KEYS[5], token, next_summary(outcome, reply, 3), true)
return reply
