--[[
  Give back a job taken ahead (include/next.lua's take_ahead) that this worker will not start: out
  of its intermediate list, back at the head of its queue (where it was taken from).

  KEYS
    1 intermediate  the intermediate list of the job's queue
    2 queue         the queue's list

  ARGV
    id  job id

  Returns 1, or 0 if it was no longer in the intermediate list.
]]
if redis.call('LREM', KEYS[1], 1, id) == 0 then return 0 end
redis.call('LPUSH', KEYS[2], id)
return 1
