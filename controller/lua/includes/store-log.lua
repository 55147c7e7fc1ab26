-- Appends log bytes under the per-job cap: every byte is counted, only bytes within the cap are kept.
-- Returns the job's new total of counted bytes.
local function storeLog(jobKey, logKey, data, cap)
  if #data == 0 then
    return tonumber(redis.call('HGET', jobKey, 'logBytes') or '0')
  end
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
