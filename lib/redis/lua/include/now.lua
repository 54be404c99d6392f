--[[
  redis_now(): Redis's clock, in whole epoch seconds (rq's registry scores). Every score that says
  when an entry expires is written from it, so that workers whose own clocks disagree still agree on
  it: a worker whose clock runs ahead neither fails another's live job nor drops a finished one early.
  (A script may call TIME: Redis 5+ replicates a script's effects, not the script.) Read once per
  script call: an outcome script that also claims the next job would otherwise call TIME twice per job.
]]
local now_cached
-- int(n): the integer n as a decimal string, for a command's argument. A Lua number passed to
-- redis.call is formatted with '%.14g', a floating-point conversion (~2,500 instructions each in
-- callgrind, a dozen per job); '%d' formats it as an integer, at about half the cost.
local function int(n) return string.format('%d', n) end
local function redis_now()
  if not now_cached then now_cached = tonumber(redis.call('TIME')[1]) end
  return now_cached
end
