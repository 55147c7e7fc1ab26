--[[
  Records the progress of one step, fenced by epoch and by the lease's agent (includes/fence.lua), so
  the platform sees it live (and the event stream announces it).

  KEYS[1] job   the job's hash
  KEYS[2] base  prefix {<prefix>}: — events is built from it (same hash tag, same slot; the job
                indexes jx:s:<state>, jx:<name>, jx:sets of includes/job-index.lua and stats:<minute> of
                includes/job-events.lua are never written here)

  ARGV[1] {jobId: string, epoch: int, index: int, state: string, status: json, agentId: string}
          index: the step's, from 0 · state: the status's state · status: stored as given in field
          st:<index> · agentId: the caller, as its credential proved

  Returns {cancel: bool} (the platform asked to cancel)
  or {err: 'JOB_NOT_FOUND' | 'STALE_EPOCH' | 'AGENT_MISMATCH' | 'STEP_OUT_OF_RANGE'}.
]]
--- @include "fence"
--- @include "job-events"

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
emitEvent(KEYS[2], {type = 'step', id = a.jobId, index = a.index, state = a.state})
return cjson.encode({cancel = j[4] == '1'})
