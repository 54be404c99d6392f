--[[
  redis_now(): Redis's clock, in whole epoch seconds (rq's registry scores). Every score that says
  when an entry expires is written from it, so that workers whose own clocks disagree still agree on
  it: a worker whose clock runs ahead neither fails another's live job nor drops a finished one early.
  (A script may call TIME: Redis 5+ replicates a script's effects, not the script.)
]]
local function redis_now()
  return tonumber(redis.call('TIME')[1])
end
