-- Appends log bytes under the per-job cap: every byte is counted, only bytes within the cap are kept.
-- The log key is a LIST of fixed-size segments (the last one partial), so an append costs the size of
-- the chunk, not of the whole log as APPEND to one growing string did (Redis reallocates it each
-- time). Stored byte N is byte N % LOG_SEGMENT_BYTES of element N // LOG_SEGMENT_BYTES: reads need no
-- index. `logKept` in the job hash counts the stored bytes. A job whose log was written by an older
-- controller (bytes counted but no `logKept`) keeps its single string and APPEND.
-- 64 KiB less the list's own framing, so each full segment fits one allocation; job-store.ts reads with
-- the same number (LOG_SEGMENT_BYTES), a unit test holds the two equal.
local LOG_SEGMENT_BYTES = 65520

local function storeLogLegacy(jobKey, logKey, data, cap)
  local room = cap - redis.call('STRLEN', logKey)
  if room >= #data then
    redis.call('APPEND', logKey, data)
  else
    if room > 0 then
      redis.call('APPEND', logKey, string.sub(data, 1, room))
    end
    redis.call('HSET', jobKey, 'logTruncated', '1')
  end
  return redis.call('HINCRBY', jobKey, 'logBytes', #data)
end

-- Returns the job's new total of counted bytes.
local function storeLog(jobKey, logKey, data, cap)
  local j = redis.call('HMGET', jobKey, 'logBytes', 'logKept')
  if #data == 0 then
    return tonumber(j[1] or '0')
  end
  if not j[2] and tonumber(j[1] or '0') > 0 then
    return storeLogLegacy(jobKey, logKey, data, cap)
  end
  local kept = tonumber(j[2] or '0')
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
  -- Set even when nothing fits: the field marks the job's log as segmented.
  redis.call('HINCRBY', jobKey, 'logKept', take)
  if take < #data then
    redis.call('HSET', jobKey, 'logTruncated', '1')
  end
  return redis.call('HINCRBY', jobKey, 'logBytes', #data)
end
