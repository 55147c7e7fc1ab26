--[[
  Extends one job's lease, fenced by epoch.

  KEYS[1] job     KEYS[2] leases  ZSET id -> lease expiry (ms)
  ARGV[1] job id  ARGV[2] epoch

  Returns {status} with status JOB_NOT_FOUND | STALE_EPOCH, or {'ok', cancel (0|1)}.
]]
--- @include "clock"
--- @include "fence"

local j = redis.call('HMGET', KEYS[1], 'state', 'epoch', 'leaseMs', 'cancel')
local bad = fence(j[1], j[2], ARGV[2])
if bad then
  return {bad}
end
redis.call('ZADD', KEYS[2], nowMs() + tonumber(j[3]), ARGV[1])
return {'ok', (j[4] == '1') and 1 or 0}
