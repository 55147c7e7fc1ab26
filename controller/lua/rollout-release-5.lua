--[[
  Stores a release's record (when given) and makes it the latest on a channel, with its canary. The
  release the channel had before stays its previous one, for the agents outside the canary; rolling the
  same release out again (a wider canary, a promotion to everyone) keeps that previous release.

  KEYS[1] release   HASH of the release: version, commit, arch, sha256, size, signed, uploadedAt
  KEYS[2] channel   HASH of the channel: latest, previous, canaryPercent, canaryLabels, maxInFlight
  KEYS[3] releases  ZSET version -> when it was stored (ms)
  KEYS[4] channels  SET of every channel name rolled out to
  KEYS[5] locks     HASH version -> JSON lock (see lock-release-upload-1.lua): an upload's lock is
                    released here; a cleanup's means the bundle just stored is being deleted

  ARGV[1] {version: string, channel: string, canaryPercent: int, canaryLabels: json, maxInFlight: int,
           release?: {version: string, commit: string, arch: string, sha256: string, size: int,
                      signed: string, uploadedAt: string}}
          release: absent for a rollout of a stored release · canaryLabels: {} for none · maxInFlight:
          0 for no bound (offer-release-2.lua admits agents to a bounded one)

  Returns {latest: string, previous?: string}
  or {err: 'RELEASE_EXISTS' | 'RELEASE_NOT_FOUND' | 'RELEASE_BEING_DELETED'} (the version is stored with
  another sha256; a rollout of a version not stored; the upload's lock ran out and a cleanup took the
  version since, so the bundle written is being deleted: upload again).
]]
--- @include "clock"

local a = cjson.decode(ARGV[1])
if a.release then
  local lock = redis.call('HGET', KEYS[5], a.version)
  if lock then
    if cjson.decode(lock).op == 'prune' then return cjson.encode({err = 'RELEASE_BEING_DELETED'}) end
    redis.call('HDEL', KEYS[5], a.version)
  end
  local had = redis.call('HGET', KEYS[1], 'sha256')
  if had and had ~= a.release.sha256 then return cjson.encode({err = 'RELEASE_EXISTS'}) end
  local fields = {}
  for k, v in pairs(a.release) do
    fields[#fields + 1] = k
    fields[#fields + 1] = v
  end
  redis.call('HSET', KEYS[1], unpack(fields))
  redis.call('ZADD', KEYS[3], nowMs(), a.version)
elseif redis.call('EXISTS', KEYS[1]) == 0 then
  return cjson.encode({err = 'RELEASE_NOT_FOUND'})
end

local latest = redis.call('HGET', KEYS[2], 'latest')
local previous = redis.call('HGET', KEYS[2], 'previous')
if latest and latest ~= a.version then
  previous = latest
  redis.call('HSET', KEYS[2], 'previous', latest)
end
if previous == a.version then
  -- Rolled back to the release the others run: nobody is left on a previous one.
  previous = false
  redis.call('HDEL', KEYS[2], 'previous')
end
redis.call('SADD', KEYS[4], a.channel)
redis.call('HSET', KEYS[2], 'latest', a.version, 'canaryPercent', a.canaryPercent, 'canaryLabels', a.canaryLabels, 'maxInFlight', a.maxInFlight)
local reply = {latest = a.version}
if previous then reply.previous = previous end
return cjson.encode(reply)
