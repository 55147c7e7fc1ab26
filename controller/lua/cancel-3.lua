--[[
  Cancels a job. Queued: it leaves its queue and ends cancelled at once. Running: cancelRequested is
  set and the agent learns it from its next heartbeat, renew or log reply; if its lease expires first,
  the reaper ends the job cancelled. Final: nothing changes. Every change is announced on the event stream.

  KEYS[1] base    prefix {<prefix>}: — the job's queue (q:…), log:<id>, idem:<key>, the counters
                  stats and sched:<agentId>, the job indexes (jx:s:<state>, jx:<name>, jx:sets;
                  includes/job-index.lua), events and stats:<minute> are built from it
  KEYS[2] job     the job's hash
  KEYS[3] leases  ZSET job id -> lease expiry (ms)

  ARGV[1] {jobId: string, retentionSec: int}

  Returns {state: string} (the job's state after the call) or {err: 'JOB_NOT_FOUND'}.
]]
--- @include "clock"
--- @include "finish-job"

local a = cjson.decode(ARGV[1])
local j = redis.call('HMGET', KEYS[2], 'state', 'q')
if not j[1] then
  return cjson.encode({err = 'JOB_NOT_FOUND'})
end
if j[1] == 'queued' then
  redis.call('ZREM', KEYS[1] .. j[2], a.jobId)
  finishJob(KEYS[1], KEYS[3], KEYS[2], a.jobId, 'cancelled', 'cancelled before it started', nowMs(), a.retentionSec)
  return cjson.encode({state = 'cancelled'})
end
if j[1] == 'running' then
  redis.call('HSET', KEYS[2], 'cancel', '1')
  emitEvent(KEYS[1], {type = 'job', id = a.jobId, state = 'running', cancelRequested = true})
end
return cjson.encode({state = j[1]})
