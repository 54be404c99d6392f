--[[
  The dequeue stage in one call (include/next.lua).

  KEYS
    1.. next  the NEXT block

  ARGV
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

  Returns NEXT's reply.
]]
-- @include next
local saved, bad = replayed(KEYS[2], token)
if bad then return bad end
if saved then return next_rebuild(1, saved, {}) end
local r = next_job(1, {})
if r[1] ~= 'empty' and r[1] ~= 'suspended' then remember(KEYS[2], token, next_summary('-', r, 1)) end
return r
