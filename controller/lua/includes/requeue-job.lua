-- Puts a running job back in its queue at its original score (so it keeps its place), for another
-- attempt: its lease is dropped, `reason` becomes its lastError, the lost attempt's step statuses go (the
-- next attempt runs every step again). The new epoch is only assigned by the next claim; meanwhile the
-- job is no longer `running`, which fences off every call of the lost attempt. The job moves back to the
-- queued index (includes/job-index.lua) and the event stream announces it (includes/job-events.lua).
-- `j`: the job's fields nsteps, q, score, sel, wake, createdAt, and the lost attempt's agent and attempt
-- (as read by the caller). Returns the wake target to announce.
-- queuedAt restarts: /metrics measures how long the head of a queue has waited since it (re)entered it.
--- @include "clock"
--- @include "job-events"
local function requeueJob(base, leasesKey, selectorsKey, jobKey, id, j, reason)
  redis.call('ZREM', leasesKey, id)
  redis.call('HSET', jobKey, 'state', 'queued', 'lastError', reason, 'queuedAt', nowMs())
  indexState(base, id, 'running', 'queued', j.createdAt)
  emitEvent(base, {type = 'job', id = id, state = 'queued', agent = j.agent, attempt = tonumber(j.attempt), error = reason})
  for i = 0, tonumber(j.nsteps) - 1 do
    redis.call('HDEL', jobKey, 'st:' .. i)
  end
  redis.call('ZADD', base .. j.q, j.score, id)
  if j.sel and j.sel ~= '' then
    redis.call('SADD', selectorsKey, j.sel)
  end
  return j.wake
end
