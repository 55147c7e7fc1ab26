-- Puts a job in a final state. From here on the job, its log and its idempotency key live only
-- retentionSec more, so finished work never grows Redis without bound. The job moves to its final
-- state's index, the minute's counters count it and the event stream announces it.
--- @include "job-events"
local function finishJob(base, leasesKey, jobKey, id, state, err, now, retentionSec)
  local j = redis.call('HMGET', jobKey, 'state', 'createdAt', 'agent', 'attempt', 'tasks', 'idem')
  redis.call('HSET', jobKey, 'state', state, 'finishedAt', now, 'error', err or '')
  redis.call('ZREM', leasesKey, id)
  redis.call('EXPIRE', jobKey, retentionSec)
  redis.call('EXPIRE', base .. 'log:' .. id, retentionSec)
  local idem = j[6]
  if idem and idem ~= '' then
    redis.call('EXPIRE', base .. 'idem:' .. idem, retentionSec)
  end
  indexState(base, id, j[1], state, j[2])
  countStat(base, now, 'done:' .. state)
  if state == 'failed' then
    countStat(base, now, 'failedTask:' .. (j[5] or '?'))
  end
  emitEvent(base, {type = 'job', id = id, state = state, agent = j[3] or nil, attempt = tonumber(j[4]), error = err})
end
