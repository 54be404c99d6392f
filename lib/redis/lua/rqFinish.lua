--[[
  A job succeeded (rq-wire-protocol.md §4.4): result stream, FinishedJobRegistry, TTLs by
  result_ttl (0 deletes the job, -1 keeps it forever), out of wip, worker stats, worker idle. A job
  deleted while it ran is not recreated. Then, if asked, the next job (include/next.lua), so that a
  busy worker needs one round trip per job.

  KEYS
    1   job           the job's hash
    2   wip           the StartedJobRegistry of the queue it was claimed from
    3   finished      that queue's FinishedJobRegistry
    4   results       the job's result stream
    5   worker        the worker's hash
    6   dependents    the job's dependents set
    7   dependencies  the job's dependencies set
    8.. next          the NEXT block

  ARGV
    id                     job id
    endedAt                rq timestamp
    resultTtl              seconds; 0 deletes the job, -1 keeps it forever
    endedEpoch             endedAt in epoch seconds
    workingTime            seconds the job ran
    workerTtl              seconds the idle worker's hash lives
    stillRunning           '' or, for a worker running jobs concurrently, the id of another job it still
                           runs: the worker stays busy, naming that job if it named this one
    nextMode               the NEXT block's arguments (include/next.lua; 'none': no next job)
    nextId
    nextQueue
    peeked1
    peeked2
    claimedAt
    claimedEpoch
    jobMonitoringInterval
    workerName
    claimMode
    takeAhead
    token                  replay token ('' = none)
    result                 list: the result stream entry's field/value pairs

  Returns {outcome: 'finished'|'deleted'|'gone', NEXT's reply or false, number of dependents waiting}.
]]
-- @include outcomeCheck
-- @include next
local function finish()
  local ttl = tonumber(resultTtl)
  redis.call('ZREM', KEYS[2], id)
  redis.call('HINCRBY', KEYS[5], 'successful_job_count', 1)
  redis.call('HINCRBYFLOAT', KEYS[5], 'total_working_time', workingTime)
  if stillRunning == '' then
    redis.call('HDEL', KEYS[5], 'current_job')
    redis.call('HSET', KEYS[5], 'state', 'idle', 'current_job_working_time', '0', 'last_heartbeat', endedAt)
  else
    if redis.call('HGET', KEYS[5], 'current_job') == id then redis.call('HSET', KEYS[5], 'current_job', stillRunning) end
    redis.call('HSET', KEYS[5], 'last_heartbeat', endedAt)
  end
  redis.call('EXPIRE', KEYS[5], workerTtl)
  if redis.call('EXISTS', KEYS[1]) == 0 then return 'gone' end
  if ttl == 0 then
    -- the dependents set goes after its dependents are enqueued (rqEnqueueDependents)
    redis.call('DEL', KEYS[1], KEYS[7], KEYS[4])
    return 'deleted'
  end
  redis.call('HSET', KEYS[1], 'status', 'finished', 'ended_at', endedAt)
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', '10', '*', unpack(result))
  if ttl > 0 then
    redis.call('EXPIRE', KEYS[4], ttl)
    redis.call('EXPIRE', KEYS[1], ttl)
    redis.call('EXPIRE', KEYS[6], ttl)
    redis.call('EXPIRE', KEYS[7], ttl)
    redis.call('ZADD', KEYS[3], tonumber(endedEpoch) + ttl, id)
  else
    redis.call('PERSIST', KEYS[4])
    redis.call('PERSIST', KEYS[1])
    redis.call('ZADD', KEYS[3], '+inf', id)
  end
  return 'finished'
end
local saved = replayed(KEYS[5], token)
if saved then return {saved.o, next_rebuild(8, saved.n), redis.call('SCARD', KEYS[6])} end
local bad = outcome_keys_refused()
if bad then return bad end
local outcome = finish()
local dependents = redis.call('SCARD', KEYS[6])
local nxt = next_job(8)
remember(KEYS[5], token, {o = outcome, n = next_summary(nxt)})
return {outcome, nxt, dependents}
