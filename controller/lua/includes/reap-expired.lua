-- Expired leases: the agent stopped renewing (dead, paused, partitioned). Each such job goes back to
-- its queue with its original score (so it keeps its place) until maxAttempts, then fails; a job whose
-- cancel was requested ends cancelled. The new epoch is only assigned by the next claim, and a job that
-- is no longer `running` fences off every call of the lost attempt.
-- Needs: clock.lua, finish-job.lua (which brings job-events.lua).
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
      if j[4] == '1' then
        finishJob(base, leasesKey, jobKey, id, 'cancelled',
          'cancelled; agent ' .. agent .. ' did not confirm before its lease expired', now, retentionSec)
      elseif attempt >= tonumber(j[3]) then
        finishJob(base, leasesKey, jobKey, id, 'failed',
          'lease expired on agent ' .. agent .. ' after ' .. attempt .. ' attempts (maxAttempts ' .. j[3] .. ')', now, retentionSec)
      else
        local lastError = 'lease expired on agent ' .. agent .. ' (attempt ' .. attempt .. ')'
        redis.call('HSET', jobKey, 'state', 'queued', 'lastError', lastError)
        indexState(base, id, 'running', 'queued', j[11])
        emitEvent(base, {type = 'job', id = id, state = 'queued', agent = agent, attempt = attempt, error = lastError})
        -- The next attempt runs every step again: the lost attempt's step statuses no longer apply.
        for i = 0, tonumber(j[8]) - 1 do
          redis.call('HDEL', jobKey, 'st:' .. i)
        end
        redis.call('ZADD', base .. j[6], j[7], id)
        if j[9] and j[9] ~= '' then
          redis.call('SADD', selectorsKey, j[9])
        end
        wakes[#wakes + 1] = '1\t' .. j[10]
      end
    end
  end
  if #wakes > 0 then
    redis.call('PUBLISH', channel, table.concat(wakes, '\n'))
  end
  return #ids
end
