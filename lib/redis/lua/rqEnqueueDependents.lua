--[[
  After a job ends: enqueue the dependents whose dependencies are now all met (finished, or failed
  for a dependent that allows failures; a dependency whose hash is gone counts as met, as in rq). A
  dependent is enqueued only while its status is still `deferred`, so two dependencies finishing at
  once on two workers enqueue it exactly once.

  KEYS
    1   dependents    the parent's dependents set
    2   queues        rq:queues
    3.. perDependent  per dependent: its job hash, the DeferredJobRegistry of its queue, its queue,
                      then one job key per dependency of it

  ARGV
    enqueuedAt  now, rq timestamp
    deleteSet   '1': delete the parent's dependents set afterwards
    dependents  list, per dependent: id, its queue's key, its number of dependencies

  Returns the number of dependents enqueued.
]]
local k = 3
local enqueued = 0
for a = 1, #dependents, 3 do
  local id, queue_member, ndeps = dependents[a], dependents[a + 1], tonumber(dependents[a + 2])
  local job_key, deferred_key, queue_key = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  local st = redis.call('HGET', job_key, 'status')
  if st == 'deferred' then
    local allow = redis.call('HGET', job_key, 'allow_dependency_failures') == '1'
    local met = true
    for i = 1, ndeps do
      local s = redis.call('HGET', KEYS[k + 2 + i], 'status')
      if s and s ~= 'finished' and not (allow and s == 'failed') then met = false end
    end
    if met then
      redis.call('ZREM', deferred_key, id)
      redis.call('HSET', job_key, 'status', 'queued', 'enqueued_at', enqueuedAt)
      redis.call('SADD', KEYS[2], queue_member)
      if redis.call('HGET', job_key, 'enqueue_at_front') == '1' then
        redis.call('LPUSH', queue_key, id)
      else
        redis.call('RPUSH', queue_key, id)
      end
      redis.call('SREM', KEYS[1], id)
      enqueued = enqueued + 1
    end
  else
    redis.call('SREM', KEYS[1], id)
  end
  k = k + 3 + ndeps
end
if deleteSet == '1' or redis.call('SCARD', KEYS[1]) == 0 then redis.call('DEL', KEYS[1]) end
return enqueued
