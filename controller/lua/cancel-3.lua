--[[
  Cancels a job. Queued: it leaves its queue and ends cancelled at once. Running: cancelRequested is
  set and the agent learns it from its next heartbeat, renew or log reply; if its lease expires first,
  the reaper ends the job cancelled. Final: nothing changes.

  KEYS[1] base  '<prefix>:{<ns>}:' — the job's queue key and idem:<key> are built from it (same slot)
  KEYS[2] job   KEYS[3] leases
  ARGV[1] job id  ARGV[2] retentionSec

  Returns {'JOB_NOT_FOUND'} or {'ok', state after the call}.
]]
--- @include "clock"
--- @include "finish-job"

local j = redis.call('HMGET', KEYS[2], 'state', 'q')
if not j[1] then
  return {'JOB_NOT_FOUND'}
end
if j[1] == 'queued' then
  redis.call('ZREM', KEYS[1] .. j[2], ARGV[1])
  finishJob(KEYS[1], KEYS[3], KEYS[2], ARGV[1], 'cancelled', 'cancelled before it started', nowMs(), tonumber(ARGV[2]))
  return {'ok', 'cancelled'}
end
if j[1] == 'running' then
  redis.call('HSET', KEYS[2], 'cancel', '1')
end
return {'ok', j[1]}
