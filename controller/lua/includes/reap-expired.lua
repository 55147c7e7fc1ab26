-- Expired leases: the agent stopped renewing (dead, paused, partitioned). Each such job goes back to
-- its queue (includes/requeue-job.lua) until maxAttempts, then fails; a job whose cancel was requested
-- ends cancelled. Both moves reach the job indexes (includes/job-index.lua) and the event stream
-- (includes/job-events.lua).
-- Needs: clock.lua, finish-job.lua (which brings job-events.lua).
--- @include "requeue-job"
local function reapExpired(base, leasesKey, selectorsKey, now, limit, retentionSec, channel)
  local ids = redis.call('ZRANGEBYSCORE', leasesKey, '-inf', now, 'LIMIT', 0, limit)
  local wakes = {}
  for _, id in ipairs(ids) do
    local jobKey = base .. 'job:' .. id
    local j = redis.call('HMGET', jobKey, 'state', 'attempt', 'maxAttempts', 'cancel', 'agent', 'q', 'score', 'nsteps', 'sel', 'wake', 'createdAt')
    redis.call('ZREM', leasesKey, id)
    if j[1] == 'running' then
      local attempt = tonumber(j[2])
      local agent = j[5] or '?'
      -- /metrics: a host whose leases keep expiring is dying, frozen or cut off.
      redis.call('HINCRBY', base .. 'stats', 'leaseExpired|' .. agent, 1)
      if j[4] == '1' then
        finishJob(base, leasesKey, jobKey, id, 'cancelled',
          'cancelled; agent ' .. agent .. ' did not confirm before its lease expired', now, retentionSec)
      elseif attempt >= tonumber(j[3]) then
        finishJob(base, leasesKey, jobKey, id, 'failed',
          'lease expired on agent ' .. agent .. ' after ' .. attempt .. ' attempts (maxAttempts ' .. j[3] .. ')', now, retentionSec)
      else
        wakes[#wakes + 1] = '1\t' .. requeueJob(base, leasesKey, selectorsKey, jobKey, id,
          {q = j[6], score = j[7], nsteps = j[8], sel = j[9], wake = j[10], createdAt = j[11], agent = agent, attempt = attempt},
          'lease expired on agent ' .. agent .. ' (attempt ' .. attempt .. ')')
      end
    end
  end
  if #wakes > 0 then
    redis.call('PUBLISH', channel, table.concat(wakes, '\n'))
  end
  return #ids
end
