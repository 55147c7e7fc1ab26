-- The fencing check shared by every lease-protected call: the caller's epoch must be the job's current
-- one, the job must still be running, and the lease must be the caller's own (`jobAgent`, recorded at
-- claim). The epoch is judged first: an agent whose lost job went to another agent hears STALE_EPOCH
-- (stop, report nothing), as before; only a call with the current epoch from an agent that does not hold
-- the lease is AGENT_MISMATCH (a host acting for another). Returns nil when it holds, else an error status.
local function fence(state, jobEpoch, epoch, jobAgent, agentId)
  if not state then
    return 'JOB_NOT_FOUND'
  end
  if state ~= 'running' or tonumber(jobEpoch) ~= tonumber(epoch) then
    return 'STALE_EPOCH'
  end
  if jobAgent ~= agentId then
    return 'AGENT_MISMATCH'
  end
  return nil
end
