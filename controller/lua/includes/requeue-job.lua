-- Puts a running job back in its queue at its original score (so it keeps its place), for another
-- attempt: its lease is dropped, `reason` becomes its lastError, the lost attempt's step statuses go (the
-- next attempt runs every step again). The new epoch is only assigned by the next claim; meanwhile the
-- job is no longer `running`, which fences off every call of the lost attempt.
-- `j`: the job's fields nsteps, q, score, sel (as read by the caller). Returns the wake target to announce.
-- queuedAt restarts: /metrics measures how long the head of a queue has waited since it (re)entered it.
--- @include "clock"
--- @include "job-index"
local function requeueJob(base, leasesKey, selectorsKey, jobKey, id, j, reason)
  redis.call('ZREM', leasesKey, id)
  indexState(base, id, 'running', 'queued', redis.call('HGET', jobKey, 'createdAt'))
  redis.call('HSET', jobKey, 'state', 'queued', 'lastError', reason, 'queuedAt', nowMs())
  for i = 0, tonumber(j.nsteps) - 1 do
    redis.call('HDEL', jobKey, 'st:' .. i)
  end
  redis.call('ZADD', base .. j.q, j.score, id)
  if j.sel and j.sel ~= '' then
    redis.call('SADD', selectorsKey, j.sel)
  end
  return j.wake
end
