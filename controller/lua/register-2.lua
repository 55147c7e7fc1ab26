--[[
  Registers (or re-registers) an agent: its description replaces the old one, state online.

  KEYS[1] agent   the agent's registry hash
  KEYS[2] agents  ZSET agentId -> lastSeenAt

  ARGV[1] {agentId: string, ttlSec: int,
           agent: {hostname: string, addresses: json, port: int, version: string, commit: string,
                   labels: json, capacity: int, leaseMs: int}}
          agent: the registry hash's fields, stored as given · ttlSec: how long the hash outlives the
          agent's silence

  Returns {now: int} (the server time, ms).
]]
--- @include "clock"

local a = cjson.decode(ARGV[1])
local now = nowMs()
local fields = {'registeredAt', now, 'lastSeenAt', now, 'state', 'online', 'running', 0}
for k, v in pairs(a.agent) do
  fields[#fields + 1] = k
  fields[#fields + 1] = v
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('EXPIRE', KEYS[1], a.ttlSec)
redis.call('ZADD', KEYS[2], now, a.agentId)
return cjson.encode({now = now})
