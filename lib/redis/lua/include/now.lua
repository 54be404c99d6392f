--[[
  redis_now(): Redis's clock, in whole epoch seconds (rq's registry scores). Every score that says
  when an entry expires is written from it, so that workers whose own clocks disagree still agree on
  it: a worker whose clock runs ahead neither fails another's live job nor drops a finished one early.
  (A script may call TIME: Redis 5+ replicates a script's effects, not the script.) Read once per
  script call: an outcome script that also claims the next job would otherwise call TIME twice per job.
]]
local now_cached
local function redis_now()
  if not now_cached then now_cached = tonumber(redis.call('TIME')[1]) end
  return now_cached
end
