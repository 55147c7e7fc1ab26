-- Judges one attempt's result: accepted once per epoch; a repeat for the epoch already accepted is a
-- duplicate (changes nothing); any other epoch, or a job no longer running, is stale. A log tail riding
-- on the result is applied first, like an append (overlap skipped, a start past the end not stored);
-- a result whose log has still not all arrived is refused with the offset the controller holds, so no
-- job passes with its output missing. Shared by complete-claim-5.lua for single and batched completes.
-- `steps`: the step result JSONs; `tailOffset` nil when no tail rides along.
-- Returns 'accepted' | 'duplicate' | 'JOB_NOT_FOUND' | 'STALE_EPOCH', or 'LOG_INCOMPLETE', bytes held.
--- @include "fence"
--- @include "finish-job"
--- @include "store-log"
local function completeJob(base, leasesKey, id, epoch, outcome, err, logBytes, retentionSec, steps, tailOffset, tail, logCap, now)
  local jobKey = base .. 'job:' .. id
  local j = redis.call('HMGET', jobKey, 'state', 'epoch', 'doneEpoch', 'logBytes', 'logBase', 'nsteps')
  if j[1] and tonumber(j[3]) == epoch then
    return 'duplicate'
  end
  local bad = fence(j[1], j[2], epoch)
  if bad then
    return bad
  end
  local logBase = tonumber(j[5])
  local have = tonumber(j[4]) - logBase
  if tailOffset and tailOffset <= have and have - tailOffset < #tail then
    have = storeLog(jobKey, base .. 'log:' .. id, string.sub(tail, have - tailOffset + 1), logCap) - logBase
  end
  if logBytes > have then
    return 'LOG_INCOMPLETE', have
  end
  -- The fence field and every step's outcome in one HSET.
  local fields = {'doneEpoch', epoch}
  for i = 1, math.min(#steps, tonumber(j[6])) do
    fields[#fields + 1] = 'st:' .. (i - 1)
    fields[#fields + 1] = steps[i]
  end
  redis.call('HSET', jobKey, unpack(fields))
  -- A count, not a flag: an audit (the chaos suite) can prove no job ever had two results accepted.
  redis.call('HINCRBY', jobKey, 'accepted', 1)
  finishJob(base, leasesKey, jobKey, id, outcome, err, now, retentionSec)
  return 'accepted'
end
