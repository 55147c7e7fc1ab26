--[[
  After a cleanup deleted the bundles prune-releases-4.lua handed it: drops their deletion locks, so
  those versions may be uploaded again. A lock that is no longer this cleanup's (taken over since by an
  upload, or by another cleanup after staleMs) is left as it is.

  KEYS[1] locks  HASH version -> JSON lock (see lock-release-upload-1.lua)

  ARGV[1] {since: int, versions: [string]}
          since: the time prune-releases-4.lua gave its locks · versions: the ones whose bundles are gone

  Returns {unlocked: int}
]]

local a = cjson.decode(ARGV[1])
local unlocked = 0
for _, version in ipairs(a.versions) do
  local lock = redis.call('HGET', KEYS[1], version)
  if lock then
    local l = cjson.decode(lock)
    if l.op == 'prune' and l.since == a.since then
      redis.call('HDEL', KEYS[1], version)
      unlocked = unlocked + 1
    end
  end
end
return cjson.encode({unlocked = unlocked})
