--[[
  Stores a monitor's samples: the newest is the host's latest, all go to a history bounded by age
  (window) and count.

  KEYS[1] latest  the host's newest sample   KEYS[2] history  ZSET sample JSON by ts
  ARGV[1] window ms  ARGV[2] max samples kept  ARGV[3] TTL sec, then pairs (ts, sample JSON)

  Returns the number of samples kept in the history.
]]
--- @include "clock"

local now = nowMs()
local newest, newestTs = nil, nil
for i = 4, #ARGV, 2 do
  local ts = tonumber(ARGV[i])
  redis.call('ZADD', KEYS[2], ARGV[i], ARGV[i + 1])
  if not newestTs or ts >= newestTs then
    newest, newestTs = ARGV[i + 1], ts
  end
end
local current = redis.call('GET', KEYS[1])
if not current or tonumber(string.match(current, '"ts":(%-?%d+)') or '0') <= newestTs then
  redis.call('SET', KEYS[1], newest, 'EX', ARGV[3])
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[1]))
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[2]) - 1)
redis.call('EXPIRE', KEYS[2], ARGV[3])
return redis.call('ZCARD', KEYS[2])
