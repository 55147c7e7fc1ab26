-- Appends log bytes under the per-job cap: every byte is counted, only bytes within the cap are kept.
-- The log is a LIST of fixed-size segments (includes/log-segments.lua), so an append costs the size of
-- the chunk, not of the whole log as APPEND to one growing string did (Redis reallocates it each time).
-- `logKept` in the job hash counts the stored bytes, `logBytes` every byte sent.
--- @include "log-segments"

-- Returns the job's new total of counted bytes.
local function storeLog(jobKey, logKey, data, cap)
  local j = redis.call('HMGET', jobKey, 'logBytes', 'logKept')
  if #data == 0 then
    return tonumber(j[1])
  end
  local kept = tonumber(j[2])
  local take = math.min(#data, math.max(cap - kept, 0))
  local pos = 1
  local used = kept % LOG_SEGMENT_BYTES
  if used > 0 and take > 0 then
    -- Top up the partial last segment (a copy of at most one segment).
    local n = math.min(LOG_SEGMENT_BYTES - used, take)
    redis.call('LSET', logKey, -1, redis.call('LINDEX', logKey, -1) .. string.sub(data, 1, n))
    pos = n + 1
  end
  local batch = {}
  while pos <= take do
    local stop = math.min(pos + LOG_SEGMENT_BYTES - 1, take)
    batch[#batch + 1] = string.sub(data, pos, stop)
    pos = stop + 1
    if #batch == 64 or pos > take then
      redis.call('RPUSH', logKey, unpack(batch))
      batch = {}
    end
  end
  if take > 0 then
    redis.call('HINCRBY', jobKey, 'logKept', take)
  end
  if take < #data then
    redis.call('HSET', jobKey, 'logTruncated', '1')
  end
  return redis.call('HINCRBY', jobKey, 'logBytes', #data)
end
