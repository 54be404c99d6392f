--[[
  An expired StartedJobRegistry entry (its worker stopped heart-beating): rq's cleanup.
  Retries left -> requeued (or scheduled after the retry interval); else failed with exc_info and,
  as rq 2.x does (registry.py cleanup -> _handle_failure), a failure entry in the result stream.
  The ZREM decides who handles the entry, so two concurrent cleaners never both move it. An rq 2.x
  member `<id>:<execution id>` also loses its execution hash and its place in the executions set.

  KEYS
    1 wip           the queue's StartedJobRegistry
    2 job           the job's hash
    3 failed        the queue's FailedJobRegistry
    4 dependents    the job's dependents set
    5 dependencies  the job's dependencies set
    6 queue         the queue's list
    7 queues        rq:queues
    8 scheduled     the queue's ScheduledJobRegistry
    9 results       the job's result stream
    10 execution    rq:execution:<member> (rq 2.x members)
    11 executions   the job's rq 2.x executions set
    12 intermediate the queue's intermediate list

  ARGV
    member             the wip entry (`id:execid` in rq 2.x data)
    excInfo            exc_info (zlib)
    defaultFailureTtl  seconds, when the job has no failure_ttl
    nowTs              now, rq timestamp
    queueMember        the queue's key: its member of rq:queues
    id                 job id
    execId             the member's execution id ('' for a bare id)
    result             list: the failure's result stream entry (field/value pairs)
    orIntermediate     '1': a job not in the StartedJobRegistry is failed if it is in the intermediate
                       list (a SimpleWorker's group commit runs short jobs from there unregistered:
                       the watchdog fails the one that blocked the process past its timeout)

  Returns 'failed', 'requeued', 'scheduled' or 'gone'.
]]
-- @include retry
-- @include now
if redis.call('ZREM', KEYS[1], member) == 0 and (orIntermediate ~= '1' or redis.call('LREM', KEYS[12], '1', id) == 0) then return 'gone' end
if execId ~= '' then
  redis.call('DEL', KEYS[10])
  redis.call('ZREM', KEYS[11], execId)
end
if redis.call('EXISTS', KEYS[2]) == 0 then return 'gone' end
local now_s = redis_now()
local retried = retry(KEYS[2], KEYS[6], KEYS[7], KEYS[8], queueMember, id, now_s, nowTs)
if retried then return retried end
local own_ttl = tonumber(redis.call('HGET', KEYS[2], 'failure_ttl'))
local ttl = own_ttl or tonumber(defaultFailureTtl)
-- junk ('nan', 1e20, 1.5) would make EXPIRE fail after the first writes
if ttl ~= ttl or math.abs(ttl) > 1e9 then ttl = tonumber(defaultFailureTtl) end
ttl = math.floor(ttl)
-- A results key of another type (a stranger's, or bad data) gets no entry: the job is failed all the
-- same, since this sweep is what ends a job whose outcome could not be recorded.
local results_type = redis.call('TYPE', KEYS[9]).ok
local write_result = results_type == 'stream' or results_type == 'none'
redis.call('HSET', KEYS[2], 'status', 'failed', 'exc_info', excInfo)
add_failed(KEYS[3], id, now_s, ttl, KEYS[2], KEYS[4], KEYS[5])
if not write_result then return 'failed' end
redis.call('XADD', KEYS[9], 'MAXLEN', '~', '10', '*', unpack(result))
-- as rqFail: the job's own failure ttl applies to its results
if own_ttl then
  if ttl > 0 then redis.call('EXPIRE', KEYS[9], ttl) else redis.call('PERSIST', KEYS[9]) end
end
return 'failed'
