--[[
  add_counts(worker_key, c): the worker hash adds `c` ('' = nothing; else {successful, failed,
  working time in seconds}: what waited in lib/PendingCounts.ts) to rq's successful_job_count,
  failed_job_count and total_working_time. The outcome scripts (leave_started) and rqFinishMany.
]]
local function add_counts(worker_key, c)
  if c == '' then return end
  if c[1] ~= '0' then redis.call('HINCRBY', worker_key, 'successful_job_count', c[1]) end
  if c[2] ~= '0' then redis.call('HINCRBY', worker_key, 'failed_job_count', c[2]) end
  redis.call('HINCRBYFLOAT', worker_key, 'total_working_time', c[3])
end
