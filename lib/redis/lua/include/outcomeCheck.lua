--[[
  outcome_keys_refused(): the keys every outcome script writes (job, wip, registry, results, worker,
  dependents, dependencies: KEYS[1..7] of rqFinish and rqFail). A key of another type (a stranger's)
  would fail a write half-way, so they are checked before the first one; returns the error reply,
  or nil.
]]
-- @include typeCheck
local function outcome_keys_refused()
  return expect_type(KEYS[1], 'hash') or expect_type(KEYS[2], 'zset') or expect_type(KEYS[3], 'zset')
    or expect_type(KEYS[4], 'stream') or expect_type(KEYS[5], 'hash') or expect_type(KEYS[6], 'set') or expect_type(KEYS[7], 'set')
end
