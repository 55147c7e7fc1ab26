--[[
  The cleanup after an upload or a rollout: chooses the releases past the newest `keep` that no
  channel points to (latest or previous), removes their records and locks each for deletion, in one
  atomic step, so that whatever another controller rolls out meanwhile is either seen here (and kept)
  or refused as not found. The caller then deletes the bundles named in the reply and runs
  unlock-pruned-releases-1.lua. A version locked for an upload is left alone.

  KEYS[1] base      prefix {<prefix>}: — release:<version> (a release's record) and
                    release-channel:<name> (a channel: latest, previous) are built from it
  KEYS[2] releases  ZSET version -> when it was stored (ms)
  KEYS[3] channels  SET of every channel name rolled out to
  KEYS[4] locks     HASH version -> JSON lock (see lock-release-upload-1.lua)

  ARGV[1] {keep: int, limit: int, staleMs: int}
          keep: the newest releases kept whatever points to them · limit: releases removed per call, at
          most · staleMs: a deletion locked longer ago than this was abandoned (its controller died): it is
          handed out again; an upload lock past its expiresAt is dropped

  Returns {since: int, removed: [{version: string, sha256: string}]}
          since: the locks' time, for unlock-pruned-releases-1.lua · removed: whose bundles to delete
]]
--- @include "clock"

local a = cjson.decode(ARGV[1])
local now = nowMs()
local removed = {}
local function lockForDeletion(version, sha256)
  redis.call('HSET', KEYS[4], version, cjson.encode({op = 'prune', sha256 = sha256, since = now, staleMs = a.staleMs}))
  removed[#removed + 1] = {version = version, sha256 = sha256}
end

local locked = {}
local locks = redis.call('HGETALL', KEYS[4])
for i = 1, #locks, 2 do
  local version, l = locks[i], cjson.decode(locks[i + 1])
  if l.op == 'prune' and l.since <= now - l.staleMs and #removed < a.limit then
    lockForDeletion(version, l.sha256)
  elseif l.op == 'upload' and l.expiresAt <= now then
    redis.call('HDEL', KEYS[4], version)
  else
    locked[version] = true
  end
end

local pointedTo = {}
for _, name in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local p = redis.call('HMGET', KEYS[1] .. 'release-channel:' .. name, 'latest', 'previous')
  if p[1] then pointedTo[p[1]] = true end
  if p[2] then pointedTo[p[2]] = true end
end

-- Oldest first; everything but the newest `keep`.
for _, version in ipairs(redis.call('ZRANGE', KEYS[2], 0, -(a.keep + 1))) do
  if #removed >= a.limit then break end
  if not pointedTo[version] and not locked[version] then
    local sha256 = redis.call('HGET', KEYS[1] .. 'release:' .. version, 'sha256')
    redis.call('DEL', KEYS[1] .. 'release:' .. version)
    redis.call('ZREM', KEYS[2], version)
    if sha256 then lockForDeletion(version, sha256) end
  end
end
return cjson.encode({since = now, removed = removed})
