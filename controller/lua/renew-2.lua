--[[
  Extends one job's lease, fenced by epoch and by the lease's agent (includes/fence.lua).

  KEYS[1] job     the job's hash
  KEYS[2] leases  ZSET job id -> lease expiry (ms)

  ARGV[1] {jobId: string, epoch: int, agentId: string}
          agentId: the caller, as its credential proved

  Returns {cancel: bool} (the platform asked to cancel)
  or {err: 'JOB_NOT_FOUND' | 'STALE_EPOCH' | 'AGENT_MISMATCH'}.
]]
--- @include "clock"
--- @include "fence"

local a = cjson.decode(ARGV[1])
local j = redis.call('HMGET', KEYS[1], 'state', 'epoch', 'leaseMs', 'cancel', 'agent')
local bad = fence(j[1], j[2], a.epoch, j[5], a.agentId)
if bad then
  return cjson.encode({err = bad})
end
redis.call('ZADD', KEYS[2], nowMs() + tonumber(j[3]), a.jobId)
return cjson.encode({cancel = j[4] == '1'})
