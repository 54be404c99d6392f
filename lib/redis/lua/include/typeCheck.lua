--[[
  expect_type(key, wanted): the error reply to return when `key` holds another type than `wanted`
  (a missing key is fine), else nil; and the type found ('none' for a missing key). Scripts check key
  types before their first write, so one that fails leaves nothing half-written.
  The check is the wanted type's length command under pcall, not TYPE: its integer reply costs Lua
  less than TYPE's status reply (a table), and a length of 0 means no key, since Redis deletes a
  hash, list, set or sorted set when it empties (a stream may stay empty: it then reads as 'none',
  and no caller tells an empty stream from none). TYPE runs only for the error message.
]]
local length_command = {hash = 'HLEN', zset = 'ZCARD', list = 'LLEN', set = 'SCARD', stream = 'XLEN'} -- constant
-- wrong_type(key, wanted): the error reply, and the type `key` holds
local function wrong_type(key, wanted)
  local t = redis.call('TYPE', key).ok
  return redis.error_reply('WRONGTYPE ' .. key .. ' holds a ' .. t .. ', expected a ' .. wanted), t
end
local function expect_type(key, wanted)
  local n = redis.pcall(length_command[wanted], key)
  if type(n) == 'number' then
    if n > 0 then return nil, wanted end
    return nil, 'none'
  end
  return wrong_type(key, wanted)
end
