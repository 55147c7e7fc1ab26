--[[
  Admits an agent to a bounded rollout: at most `max` agents of a channel move to a release at a time,
  counted from the moment the release is first offered to one of them until it runs it. An agent that
  registered on the release's commit has arrived and gives its place on at once (its record says so;
  it need not ask again). One admitted longer ago than staleMs that never arrived (its self-test failed,
  the host went away) lapses: it gives its place up and, should it ask again, is let through without
  taking one (it would otherwise be admitted afresh at every question and hold a place for good), so
  broken hosts slow a rollout down but never stop it.

  KEYS[1] base    prefix {<prefix>}: — agent:<id> (HASH with the registered commit) is built from it
  KEYS[2] moving  ZSET agentId -> when it was admitted (ms), or -1 once it lapsed; one per channel and
                  release

  ARGV[1] {agentId: string, commit: string, max: int, staleMs: int, ttlMs: int}
          commit: the release's · max >= 1 · ttlMs: how long the set outlives its last admission (a
          finished rollout's set goes by itself)

  Returns {admitted: bool, moving: int}
          moving: the agents moving now, this one included when admitted (0 when it has arrived)
]]
--- @include "clock"

local a = cjson.decode(ARGV[1])
local now = nowMs()
local function arrived(id)
  return redis.call('HGET', KEYS[1] .. 'agent:' .. id, 'commit') == a.commit
end

if arrived(a.agentId) then
  redis.call('ZREM', KEYS[2], a.agentId)
  return cjson.encode({admitted = true, moving = 0})
end
-- Lapsed: never arrived within staleMs. Kept at -1, out of the count.
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], 0, '(' .. fmt(now - a.staleMs))) do
  redis.call('ZADD', KEYS[2], 'XX', -1, id)
end
local function movingNow()
  return redis.call('ZCOUNT', KEYS[2], 0, '+inf')
end
if redis.call('ZSCORE', KEYS[2], a.agentId) then
  return cjson.encode({admitted = true, moving = movingNow()})
end
-- Those still moving are at most max: looking at each is as bounded as the rollout.
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], 0, '+inf')) do
  if arrived(id) then redis.call('ZREM', KEYS[2], id) end
end
local moving = movingNow()
if moving >= a.max then return cjson.encode({admitted = false, moving = moving}) end
redis.call('ZADD', KEYS[2], fmt(now), a.agentId)
redis.call('PEXPIRE', KEYS[2], a.ttlMs)
return cjson.encode({admitted = true, moving = moving + 1})
