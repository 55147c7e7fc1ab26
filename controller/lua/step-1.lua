--[[
  Records the progress of one step, fenced by epoch, so the platform sees it live.

  KEYS[1] job  the job's hash

  ARGV[1] {epoch: int, index: int, status: json}
          index: the step's, from 0 · status: stored as given in field st:<index>

  Returns {cancel: bool} (the platform asked to cancel)
  or {err: 'JOB_NOT_FOUND' | 'STALE_EPOCH' | 'STEP_OUT_OF_RANGE'}.
]]
--- @include "fence"

local a = cjson.decode(ARGV[1])
local j = redis.call('HMGET', KEYS[1], 'state', 'epoch', 'nsteps', 'cancel')
local bad = fence(j[1], j[2], a.epoch)
if bad then
  return cjson.encode({err = bad})
end
if a.index >= tonumber(j[3]) then
  return cjson.encode({err = 'STEP_OUT_OF_RANGE'})
end
redis.call('HSET', KEYS[1], 'st:' .. a.index, a.status)
return cjson.encode({cancel = j[4] == '1'})
