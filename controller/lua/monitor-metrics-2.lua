--[[
  Stores a monitor's samples: the newest is the host's latest, all go to a history bounded by age
  (window) and count.

  KEYS[1] latest   the host's newest sample (JSON text)
  KEYS[2] history  ZSET sample JSON text by ts

  ARGV[1] {windowMs: int, maxSamples: int, ttlSec: int, samples: [{ts: int, sample: json}]}

  Returns {kept: int} (the samples the history holds now).
]]
--- @include "clock"

local a = cjson.decode(ARGV[1])
local now = nowMs()
local newest, newestTs = nil, nil
for _, s in ipairs(a.samples) do
  redis.call('ZADD', KEYS[2], s.ts, s.sample)
  if not newestTs or s.ts >= newestTs then
    newest, newestTs = s.sample, s.ts
  end
end
local current = redis.call('GET', KEYS[1])
if not current or tonumber(string.match(current, '"ts":(%-?%d+)') or '0') <= newestTs then
  redis.call('SET', KEYS[1], newest, 'EX', a.ttlSec)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - a.windowMs)
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -a.maxSamples - 1)
redis.call('EXPIRE', KEYS[2], a.ttlSec)
return cjson.encode({kept = redis.call('ZCARD', KEYS[2])})
