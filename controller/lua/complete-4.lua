--[[
  Accepts an attempt's result once per epoch. A repeat for the epoch already accepted is a duplicate
  (answered, changes nothing); any other epoch, or a job no longer running, is stale. A result whose
  log has not all arrived is refused with the offset the controller holds, so no job passes with its
  output missing.

  KEYS[1] base  '<prefix>:{<ns>}:' — log:<id>, idem:<key> are built from it (same hash tag, same slot)
  KEYS[2] job   KEYS[3] log   KEYS[4] leases  ZSET id -> lease expiry (ms)
  ARGV[1] job id  ARGV[2] epoch  ARGV[3] outcome  ARGV[4] error|''  ARGV[5] logBytes of the attempt
  ARGV[6] retentionSec  then one step result JSON per step

  Returns {JOB_NOT_FOUND | STALE_EPOCH}, {'LOG_INCOMPLETE', expected} or {'ok', duplicate (0|1)}.
]]
--- @include "clock"
--- @include "fence"
--- @include "finish-job"

local j = redis.call('HMGET', KEYS[2], 'state', 'epoch', 'doneEpoch', 'logBytes', 'logBase', 'nsteps')
if j[1] and tonumber(j[3]) == tonumber(ARGV[2]) then
  return {'ok', 1}
end
local bad = fence(j[1], j[2], ARGV[2])
if bad then
  return {bad}
end
local have = tonumber(j[4]) - tonumber(j[5])
if tonumber(ARGV[5]) > have then
  return {'LOG_INCOMPLETE', have}
end
redis.call('HSET', KEYS[2], 'doneEpoch', ARGV[2])
-- A count, not a flag: an audit (the chaos suite) can prove no job ever had two results accepted.
redis.call('HINCRBY', KEYS[2], 'accepted', 1)
local nsteps = tonumber(j[6])
for i = 7, #ARGV do
  if i - 7 < nsteps then
    redis.call('HSET', KEYS[2], 'st:' .. (i - 7), ARGV[i])
  end
end
finishJob(KEYS[1], KEYS[4], KEYS[2], ARGV[1], ARGV[3], ARGV[4], nowMs(), tonumber(ARGV[6]))
return {'ok', 0}
