--[[
  An id left in an intermediate list (its worker died between taking and registering it): the
  first sweep that sees it marks it (with Redis's clock); a later sweep, at least `grace` seconds
  after, puts it back at the head of its queue, its hash marked as orphaned (its worker may have
  died of it: Lookahead's ORPHANED_FIELD). Ids that made it into wip are only unlisted: a bare
  member (rq 1.13, rq-ts) or rq 2.x's `<id>:<execution id>`, found through the job's executions set
  (the execution's key in wip is written with it in one transaction).

  KEYS
    1 intermediate  the queue's intermediate list
    2 queue         the queue's list
    3 wip           the queue's StartedJobRegistry
    4 seen          the first-seen marker of this id
    5 executions    the job's rq 2.x executions set
    6 job           the job's hash

  ARGV
    id     job id
    grace  seconds between the first sweep that sees the id and its requeue
    field  the orphaned mark's field name

  Returns 'started', 'gone', 'marked', 'waiting' or 'requeued'.
]]
-- @include now
local function in_wip()
  if redis.call('ZSCORE', KEYS[3], id) then return true end
  for _, exec_id in ipairs(redis.call('ZRANGE', KEYS[5], 0, -1)) do
    if redis.call('ZSCORE', KEYS[3], id .. ':' .. exec_id) then return true end
  end
  return false
end
if in_wip() then
  redis.call('LREM', KEYS[1], 0, id)
  redis.call('DEL', KEYS[4])
  return 'started'
end
if not redis.call('LPOS', KEYS[1], id) then
  redis.call('DEL', KEYS[4])
  return 'gone'
end
local now = redis_now()
local seen = tonumber(redis.call('GET', KEYS[4]))
if not seen then
  redis.call('SET', KEYS[4], now, 'EX', 86400)
  return 'marked'
end
if now - seen < tonumber(grace) then return 'waiting' end
redis.call('LREM', KEYS[1], 1, id)
redis.call('LPUSH', KEYS[2], id)
redis.call('DEL', KEYS[4])
-- A deleted job is not recreated as a hash of one field.
if redis.call('TYPE', KEYS[6]).ok == 'hash' then redis.call('HSET', KEYS[6], field, '1') end
return 'requeued'
