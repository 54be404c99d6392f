--[[
  Remove the first `#ids` entries of a queue and their job hashes, if the head is still exactly
  those ids (else the caller reads the head again).

  KEYS
    1   queue  the queue's list
    2.. jobs   per id: its job hash, its dependents set

  ARGV
    ids  list: the ids read at the head of the queue

  Returns the number removed, or -1 if the head changed meanwhile.
]]
local n = #ids
local head = redis.call('LRANGE', KEYS[1], 0, n - 1)
if #head ~= n then return -1 end
for i = 1, n do
  if head[i] ~= ids[i] then return -1 end
end
redis.call('LTRIM', KEYS[1], n, -1)
for i = 1, n do
  redis.call('DEL', KEYS[2 * i], KEYS[2 * i + 1])
end
return n
