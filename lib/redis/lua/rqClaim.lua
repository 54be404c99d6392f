--[[
  Register a job taken into an intermediate list by rqTake (include/claim.lua), then peek at the
  next head.

  KEYS
    1   intermediate  the intermediate list of the job's queue
    2   job           the job's hash
    3   wip           the queue's StartedJobRegistry
    4   worker        the worker's hash
    5   execution     the execution's hash (protocol 2; any key when execId is '')
    6   executions    the job's executions set (protocol 2; any key when execId is '')
    7.. queues        the worker's queues, in priority order

  ARGV
    id                     job id
    claimedAt              now, rq timestamp (the job's started_at; scores come from Redis's clock)
    jobMonitoringInterval  seconds
    workerName             the worker's name
    claimMode              'inline' | 'process': how claim() computes the heartbeat TTL
    execId                 the execution id (protocol 2), '' for protocol 1 (include/claim.lua)
    peekCount              how many queue heads to return

  Returns the peeked ids (the worker reads the job's hash right behind it: include/next.lua), or 0 if the job hash is gone (a deleted job: skipped, as rq
  does), -1 if the key is not a hash.
]]
-- @include claim
local t = redis.call('TYPE', KEYS[2]).ok
redis.call('LREM', KEYS[1], 1, id)
if t ~= 'hash' then
  if t == 'none' then return 0 end
  return -1
end
claim(KEYS[2], KEYS[3], KEYS[4], id, claimedAt, jobMonitoringInterval, workerName, claimMode, execId, KEYS[5], KEYS[6])
local peeked = {}
peek(7, #KEYS - 6, peekCount, peeked)
return peeked
