--[[
  Locks a version for an upload before its bundle is written to the store, so that a cleanup
  (prune-releases-4.lua) cannot delete the bundle between that write and the record
  rollout-release-5.lua makes (the name is the same for the same content: a re-upload of an old release
  writes over the very object a cleanup may be deleting). The rollout releases the lock.

  KEYS[1] locks  HASH version -> JSON lock, one of
                 {op: 'upload', expiresAt: ms}: an upload is writing the bundle; cleanups leave the
                 version alone until expiresAt
                 {op: 'prune', sha256, since: ms, staleMs}: a cleanup removed the record and is deleting
                 the bundle; past since + staleMs its controller is presumed dead

  ARGV[1] {version: string, ttlMs: int}
          ttlMs: how long the write may take at most (the store's bound on one PUT, and some)

  Returns {expiresAt: int}
  or {err: 'RELEASE_BEING_DELETED'} (a cleanup is deleting this version's bundle; one whose cleanup
  went silent for staleMs is taken over: its controller died, and this upload writes the bundle again).
]]
--- @include "clock"

local a = cjson.decode(ARGV[1])
local now = nowMs()
local lock = redis.call('HGET', KEYS[1], a.version)
if lock then
  local l = cjson.decode(lock)
  if l.op == 'prune' and l.since > now - l.staleMs then return cjson.encode({err = 'RELEASE_BEING_DELETED'}) end
end
local expiresAt = now + a.ttlMs
redis.call('HSET', KEYS[1], a.version, cjson.encode({op = 'upload', expiresAt = expiresAt}))
return cjson.encode({expiresAt = expiresAt})
