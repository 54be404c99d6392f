--[[
  unregister_started(wip, worker, execution, executions): the job `id` out of the StartedJobRegistry,
  shared by rqFinish and rqFail. Protocol 2 (`execId` not empty) also ends the execution as rq 2.x's
  cleanup_execution does: its hash and its entry in the job's executions set.
]]
local function unregister_started(wip_key, worker_key, execution_key, executions_key)
  if execId == '' then
    redis.call('ZREM', wip_key, id)
  else
    redis.call('ZREM', wip_key, id .. ':' .. execId)
    redis.call('DEL', execution_key)
    redis.call('ZREM', executions_key, execId)
    -- the worker hash's execution is this job's, or (concurrent jobs) one this script cannot name
    redis.call('HDEL', worker_key, 'rqts_execution')
  end
end
