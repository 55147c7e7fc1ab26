-- Puts a job in a final state. From here on the job, its log and its idempotency key live only
-- retentionSec more, so finished work never grows Redis without bound. It moves to its final state's index.
-- The fleet counters for /metrics are kept here, the one door to a final state: base .. 'stats' counts
-- finished jobs by state and queue and scheduled runs by agent, schedule and state; a scheduled run
-- (fields sched, schedAgent set by enqueue-4.lua) also becomes its schedule's last run in
-- base .. 'sched:' .. agentId, which the monitor reads to alert on a failing schedule.
--- @include "job-index"
local function finishJob(base, leasesKey, jobKey, id, state, err, now, retentionSec)
  local j = redis.call('HMGET', jobKey, 'q', 'sched', 'schedAgent', 'state', 'createdAt')
  indexState(base, id, j[4], state, j[5])
  redis.call('HSET', jobKey, 'state', state, 'finishedAt', now, 'error', err or '')
  redis.call('ZREM', leasesKey, id)
  redis.call('EXPIRE', jobKey, retentionSec)
  redis.call('EXPIRE', base .. 'log:' .. id, retentionSec)
  local idem = redis.call('HGET', jobKey, 'idem')
  if idem and idem ~= '' then
    redis.call('EXPIRE', base .. 'idem:' .. idem, retentionSec)
  end
  -- The queue goes last in the field: a selector may hold ':' but never '|'.
  redis.call('HINCRBY', base .. 'stats', 'finished|' .. state .. '|' .. string.sub(j[1] or 'q:?', 3), 1)
  local runs = j[2] and j[2] ~= '' and base .. 'sched:' .. j[3]
  -- A host names its own schedules: past 100 of them nothing new is filed, so a host inventing names
  -- grows neither this hash, nor the counters, nor /metrics without bound.
  if runs and (redis.call('HGET', runs, j[2]) or redis.call('HLEN', runs) < 100) then
    redis.call('HINCRBY', base .. 'stats', 'sched|' .. state .. '|' .. j[3] .. '|' .. j[2], 1)
    -- Bounded: an error is the job's (already bounded) error text, cut again for this copy.
    redis.call('HSET', runs, j[2], cjson.encode({jobId = id, state = state, finishedAt = now, error = string.sub(err or '', 1, 500)}))
    redis.call('EXPIRE', runs, retentionSec)
  end
end
