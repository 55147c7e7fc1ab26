--[[
  A monitor says it is alive: its heartbeat key lives ttlSec; the time it was last seen stays longer,
  so GET /v1/agents can tell a lapsed monitor from one never seen.

  KEYS[1] heartbeat  KEYS[2] monitor-seen HASH agentId -> ms
  ARGV[1] agentId  ARGV[2] ttlSec  ARGV[3] checks JSON

  Returns the server time (ms).
]]
--- @include "clock"

local now = nowMs()
redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], now)
return now
