-- The fencing check shared by every lease-protected call: the caller's epoch must be the job's
-- current one and the job must still be running. Returns nil when it holds, else an error status.
local function fence(state, jobEpoch, epoch)
  if not state then
    return 'JOB_NOT_FOUND'
  end
  if state ~= 'running' or tonumber(jobEpoch) ~= tonumber(epoch) then
    return 'STALE_EPOCH'
  end
  return nil
end
