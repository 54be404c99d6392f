--[[
  outcome_keys_refused(): the keys every outcome script writes (job, wip, registry, results, worker,
  dependents, dependencies: KEYS[1..7] of rqFinish and rqFail). A key of another type (a stranger's)
  would fail a write half-way, so they are checked before the first one (the StartedJobRegistry
  by that write itself: leave_started()); returns the error reply, or nil. worker_checked: the worker hash's type is known to be right (replayed() read it).
  job_exists, dependents_exist, dependencies_exist: whether the job's hash and its two sets are
  there: most jobs have neither set, and a set that is not there needs no SCARD or EXPIRE.
  Included after next.lua: the EXISTS that finds none of them also finds rq:suspended (the NEXT
  block's KEYS[14]) missing when a next job is wanted, and says so to suspended() for this call.
]]
-- @include typeCheck
-- @include next
local job_exists, dependents_exist, dependencies_exist = false, false, false
local function outcome_keys_refused(worker_checked)
  local bad, t = expect_type(KEYS[1], 'hash')
  if bad then return bad end
  job_exists = t == 'hash'
  -- the StartedJobRegistry (KEYS[2]) is checked by its ZREM in leave_started()
  bad = expect_type(KEYS[3], 'zset')
  if not bad and not worker_checked then bad = expect_type(KEYS[5], 'hash') end
  if bad then return bad end
  -- A job's result stream and dependency sets are seldom there (a first run, no dependents), nor is
  -- rq:suspended: one EXISTS for them all instead of a command each.
  local found
  if nextMode == 'none' then
    found = redis.call('EXISTS', KEYS[4], KEYS[6], KEYS[7])
  else
    found = redis.call('EXISTS', KEYS[4], KEYS[6], KEYS[7], KEYS[14])
  end
  if found == 0 then
    suspended_cached = false
    return nil
  end
  bad = expect_type(KEYS[4], 'stream')
  if bad then return bad end
  bad, t = expect_type(KEYS[6], 'set')
  if bad then return bad end
  dependents_exist = t == 'set'
  bad, t = expect_type(KEYS[7], 'set')
  dependencies_exist = t == 'set'
  return bad
end
