--[[
  A monitor says it is alive: its heartbeat key lives ttlSec; the time it was last seen stays longer,
  so GET /v1/agents can tell a lapsed monitor from one never seen.

  KEYS[1] heartbeat  the monitor's heartbeat, expiring
  KEYS[2] seen       HASH agentId -> when its monitor was last seen (ms)

  ARGV[1] {agentId: string, ttlSec: int, heartbeat: json}
          heartbeat: stored as given ({checks}, read by GET /v1/agents)

  Returns {now: int} (the server time, ms).
]]
--- @include "clock"

local a = cjson.decode(ARGV[1])
local now = nowMs()
redis.call('SET', KEYS[1], a.heartbeat, 'EX', a.ttlSec)
redis.call('HSET', KEYS[2], a.agentId, now)
return cjson.encode({now = now})
