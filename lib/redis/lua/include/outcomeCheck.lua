--[[
  outcome_keys_refused(): the keys every outcome script writes (job, wip, registry, results, worker,
  dependents, dependencies: KEYS[1..7] of rqFinish and rqFail). A key of another type (a stranger's)
  would fail a write half-way, so they are checked before the first one; returns the error reply,
  or nil. job_exists: whether the job's hash is there (the check reads its type anyway).
]]
-- @include typeCheck
local job_exists = false
local function outcome_keys_refused()
  local bad, t = expect_type(KEYS[1], 'hash')
  if bad then return bad end
  job_exists = t == 'hash'
  return expect_type(KEYS[2], 'zset') or expect_type(KEYS[3], 'zset')
    or expect_type(KEYS[4], 'stream') or expect_type(KEYS[5], 'hash') or expect_type(KEYS[6], 'set') or expect_type(KEYS[7], 'set')
end
