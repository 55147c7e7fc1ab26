-- Judges one attempt's result: accepted once per epoch; a repeat for the epoch already accepted is a
-- duplicate (changes nothing); any other epoch, or a job no longer running, is stale. A log tail riding
-- on the result is applied first, like an append (overlap skipped, a start past the end not stored);
-- a result whose log has still not all arrived is refused with the offset the controller holds, so no
-- job passes with its output missing. Shared by complete-claim-6.lua for single and batched completes.
-- `r`: one entry of complete-claim-6.lua's `results`; `tail`: its tail's bytes, nil when none rides along;
-- `agentId`: the caller (complete-claim-6.lua has refused another agent's lease before anything changed).
-- Returns 'accepted' | 'duplicate' | 'JOB_NOT_FOUND' | 'STALE_EPOCH' | 'AGENT_MISMATCH', or
-- 'LOG_INCOMPLETE', bytes held.
--- @include "fence"
--- @include "finish-job"
--- @include "store-log"
local function completeJob(base, leasesKey, r, tail, retentionSec, logCap, now, agentId)
  local id, epoch = r.id, r.epoch
  local jobKey = base .. 'job:' .. id
  local j = redis.call('HMGET', jobKey, 'state', 'epoch', 'doneEpoch', 'logBytes', 'logBase', 'nsteps', 'agent')
  if j[1] and tonumber(j[3]) == epoch and j[7] == agentId then
    return 'duplicate'
  end
  local bad = fence(j[1], j[2], epoch, j[7], agentId)
  if bad then
    return bad
  end
  local logBase = tonumber(j[5])
  local have = tonumber(j[4]) - logBase
  if tail and r.tail.offset <= have and have - r.tail.offset < #tail then
    have = storeLog(jobKey, base .. 'log:' .. id, string.sub(tail, have - r.tail.offset + 1), logCap) - logBase
  end
  if r.logBytes > have then
    return 'LOG_INCOMPLETE', have
  end
  -- The fence field and every step's outcome in one HSET.
  local fields = {'doneEpoch', epoch}
  for i = 1, math.min(#r.steps, tonumber(j[6])) do
    fields[#fields + 1] = 'st:' .. (i - 1)
    fields[#fields + 1] = r.steps[i]
  end
  redis.call('HSET', jobKey, unpack(fields))
  -- A count, not a flag: an audit (the chaos suite) can prove no job ever had two results accepted.
  redis.call('HINCRBY', jobKey, 'accepted', 1)
  finishJob(base, leasesKey, jobKey, id, r.outcome, r.error, now, retentionSec)
  return 'accepted'
end
