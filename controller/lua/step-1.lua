--[[
  Records the progress of one step, fenced by epoch, so the platform sees it live.

  KEYS[1] job
  ARGV[1] epoch  ARGV[2] step index  ARGV[3] step status JSON

  Returns {JOB_NOT_FOUND | STALE_EPOCH | STEP_OUT_OF_RANGE} or {'ok', cancel (0|1)}.
]]
--- @include "fence"

local j = redis.call('HMGET', KEYS[1], 'state', 'epoch', 'nsteps', 'cancel')
local bad = fence(j[1], j[2], ARGV[1])
if bad then
  return {bad}
end
if tonumber(ARGV[2]) >= tonumber(j[3]) then
  return {'STEP_OUT_OF_RANGE'}
end
redis.call('HSET', KEYS[1], 'st:' .. ARGV[2], ARGV[3])
return {'ok', (j[4] == '1') and 1 or 0}
