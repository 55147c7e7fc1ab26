--[[
  Records the progress of one step, fenced by epoch and by the lease's agent (includes/fence.lua), so
  the platform sees it live.

  KEYS[1] job  the job's hash

  ARGV[1] {epoch: int, index: int, status: json, agentId: string}
          index: the step's, from 0 · status: stored as given in field st:<index> · agentId: the
          caller, as its credential proved

  Returns {cancel: bool} (the platform asked to cancel)
  or {err: 'JOB_NOT_FOUND' | 'STALE_EPOCH' | 'AGENT_MISMATCH' | 'STEP_OUT_OF_RANGE'}.
]]
--- @include "fence"

local a = cjson.decode(ARGV[1])
local j = redis.call('HMGET', KEYS[1], 'state', 'epoch', 'nsteps', 'cancel', 'agent')
local bad = fence(j[1], j[2], a.epoch, j[5], a.agentId)
if bad then
  return cjson.encode({err = bad})
end
if a.index >= tonumber(j[3]) then
  return cjson.encode({err = 'STEP_OUT_OF_RANGE'})
end
redis.call('HSET', KEYS[1], 'st:' .. a.index, a.status)
return cjson.encode({cancel = j[4] == '1'})
