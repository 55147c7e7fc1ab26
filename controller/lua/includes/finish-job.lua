-- Puts a job in a final state. From here on the job, its log and its idempotency key live only
-- retentionSec more, so finished work never grows Redis without bound. The job moves to its final
-- state's index (includes/job-index.lua), the minute's dashboard counters count it and the event stream
-- announces it (includes/job-events.lua).
-- The fleet counters for /metrics are kept here, the one door to a final state: base .. 'stats' counts
-- finished jobs by state and queue and scheduled runs by agent, schedule and state; a scheduled run
-- (fields sched, schedAgent set by enqueue-4.lua) also becomes its schedule's last run in
-- base .. 'sched:' .. agentId, which the monitor reads to alert on a failing schedule.
--- @include "job-events"
local function finishJob(base, leasesKey, jobKey, id, state, err, now, retentionSec)
  local j = redis.call('HMGET', jobKey, 'state', 'createdAt', 'agent', 'attempt', 'tasks', 'idem', 'q', 'sched', 'schedAgent')
  indexState(base, id, j[1], state, j[2])
  redis.call('HSET', jobKey, 'state', state, 'finishedAt', now, 'error', err or '')
  redis.call('ZREM', leasesKey, id)
  redis.call('EXPIRE', jobKey, retentionSec)
  redis.call('EXPIRE', base .. 'log:' .. id, retentionSec)
  local idem = j[6]
  if idem and idem ~= '' then
    redis.call('EXPIRE', base .. 'idem:' .. idem, retentionSec)
  end
  countStat(base, now, 'done:' .. state)
  if state == 'failed' then
    countStat(base, now, 'failedTask:' .. (j[5] or '?'))
  end
  emitEvent(base, {type = 'job', id = id, state = state, agent = j[3] or nil, attempt = tonumber(j[4]), error = err})
  -- The queue goes last in the field: a selector may hold ':' but never '|'.
  redis.call('HINCRBY', base .. 'stats', 'finished|' .. state .. '|' .. string.sub(j[7] or 'q:?', 3), 1)
  local sched, schedAgent = j[8], j[9]
  local runs = sched and sched ~= '' and base .. 'sched:' .. schedAgent
  -- A host names its own schedules: past 100 of them nothing new is filed, so a host inventing names
  -- grows neither this hash, nor the counters, nor /metrics without bound.
  if runs and (redis.call('HGET', runs, sched) or redis.call('HLEN', runs) < 100) then
    redis.call('HINCRBY', base .. 'stats', 'sched|' .. state .. '|' .. schedAgent .. '|' .. sched, 1)
    -- Bounded: an error is the job's (already bounded) error text, cut again for this copy.
    redis.call('HSET', runs, sched, cjson.encode({jobId = id, state = state, finishedAt = now, error = string.sub(err or '', 1, 500)}))
    redis.call('EXPIRE', runs, retentionSec)
  end
end
