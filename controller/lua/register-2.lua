--[[
  Registers (or re-registers) an agent: its description replaces the old one, state online.

  KEYS[1] agent   the agent's registry hash
  KEYS[2] agents  ZSET agentId -> lastSeenAt
  ARGV[1] agentId  ARGV[2] TTL sec, then field/value pairs

  Returns the server time (ms).
]]
--- @include "clock"

local now = nowMs()
redis.call('DEL', KEYS[1])
local args = {}
for i = 3, #ARGV do
  args[#args + 1] = ARGV[i]
end
redis.call('HSET', KEYS[1], 'registeredAt', now, 'lastSeenAt', now, 'state', 'online', 'running', 0, unpack(args))
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[1])
return now
