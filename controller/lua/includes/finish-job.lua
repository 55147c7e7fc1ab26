-- Puts a job in a final state. From here on the job, its log and its idempotency key live only
-- retentionSec more, so finished work never grows Redis without bound. It moves to its final state's index.
--- @include "job-index"
local function finishJob(base, leasesKey, jobKey, id, state, err, now, retentionSec)
  local before = redis.call('HMGET', jobKey, 'state', 'createdAt')
  indexState(base, id, before[1], state, before[2])
  redis.call('HSET', jobKey, 'state', state, 'finishedAt', now, 'error', err or '')
  redis.call('ZREM', leasesKey, id)
  redis.call('EXPIRE', jobKey, retentionSec)
  redis.call('EXPIRE', base .. 'log:' .. id, retentionSec)
  local idem = redis.call('HGET', jobKey, 'idem')
  if idem and idem ~= '' then
    redis.call('EXPIRE', base .. 'idem:' .. idem, retentionSec)
  end
end
