--[[
  Admits an agent to a bounded rollout: at most `max` agents of a channel move to a release at a time,
  counted from the moment the release is first offered to one of them until it runs it (the store
  removes an agent once it asks again on the new commit). An agent already admitted stays admitted;
  one admitted longer ago than staleMs that never arrived (its self-test failed, the host went away)
  gives its place up, so a few broken hosts slow a rollout down but never stop it.

  KEYS[1] moving  ZSET agentId -> when it was admitted (ms), one per channel and release

  ARGV[1] {agentId: string, max: int, staleMs: int, ttlMs: int}
          max >= 1 · ttlMs: how long the set outlives its last admission (a finished rollout's set
          goes by itself)

  Returns {admitted: bool, moving: int}
          moving: the agents admitted now, this one included when admitted
]]
--- @include "clock"

local a = cjson.decode(ARGV[1])
local now = nowMs()
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. fmt(now - a.staleMs))
if redis.call('ZSCORE', KEYS[1], a.agentId) then
  return cjson.encode({admitted = true, moving = redis.call('ZCARD', KEYS[1])})
end
local moving = redis.call('ZCARD', KEYS[1])
if moving >= a.max then return cjson.encode({admitted = false, moving = moving}) end
redis.call('ZADD', KEYS[1], fmt(now), a.agentId)
redis.call('PEXPIRE', KEYS[1], a.ttlMs)
return cjson.encode({admitted = true, moving = moving + 1})
