--[[
  expect_type(key, wanted): the error reply to return when `key` holds another type than `wanted`
  (a missing key is fine), else nil; and the type found ('none' for a missing key). Scripts check key types before their first write, so one that
  fails leaves nothing half-written.
]]
local function expect_type(key, wanted)
  local t = redis.call('TYPE', key).ok
  if t ~= wanted and t ~= 'none' then
    return redis.error_reply('WRONGTYPE ' .. key .. ' holds a ' .. t .. ', expected a ' .. wanted), t
  end
  return nil, t
end
