--[[
  Stores a monitor's samples: the newest is the host's latest, all go to a history bounded by age
  (window), count and bytes. Before anything is stored, the agent's quota for the current minute is
  charged: a push that would pass it is refused whole (MONITOR_QUOTA), unless it is the minute's first
  (a push larger than the quota then passes alone, so a monitor's backlog batch is never stuck for good).
  So what one host can put in Redis is its history's byte cap, whatever it sends.

  KEYS[1] latest   the host's newest sample (JSON text)
  KEYS[2] history  ZSET sample JSON text by ts
  KEYS[3] quota    bytes stored in the current minute (expires with it)
  KEYS[4] bytes    the bytes the history holds (the sum of its members' lengths)

  ARGV[1] {windowMs: int, maxSamples: int, maxBytes: int, ttlSec: int, quotaBytes: int,
           samples: [{ts: int, sample: json}]}
          maxBytes: the history's byte cap (the oldest samples go first) · quotaBytes: sample bytes
          the agent may store per minute

  Returns {kept: int} (the samples the history holds now) or {err: 'MONITOR_QUOTA', retryAfterSec: int}.
]]
--- @include "clock"

local a = cjson.decode(ARGV[1])
local size = 0
for _, s in ipairs(a.samples) do
  size = size + #s.sample
end
local used = tonumber(redis.call('GET', KEYS[3]) or '0')
if used > 0 and used + size > a.quotaBytes then
  local ttl = redis.call('PTTL', KEYS[3])
  return cjson.encode({err = 'MONITOR_QUOTA', retryAfterSec = math.max(1, math.ceil(ttl / 1000))})
end
if used == 0 then
  redis.call('SET', KEYS[3], size, 'PX', 60000)
else
  redis.call('INCRBY', KEYS[3], size)
end

local now = nowMs()
local total = tonumber(redis.call('GET', KEYS[4]) or '-1')
if total < 0 then
  -- No count yet (a history older than it, or expired with it): count what is there once.
  total = 0
  for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    total = total + #m
  end
end
local newest, newestTs = nil, nil
for _, s in ipairs(a.samples) do
  if redis.call('ZADD', KEYS[2], s.ts, s.sample) == 1 then
    total = total + #s.sample
  end
  if not newestTs or s.ts >= newestTs then
    newest, newestTs = s.sample, s.ts
  end
end
local current = redis.call('GET', KEYS[1])
if not current or tonumber(string.match(current, '"ts":(%-?%d+)') or '0') <= newestTs then
  redis.call('SET', KEYS[1], newest, 'EX', a.ttlSec)
end
-- Trims, oldest first: past the window, past the count, past the byte cap.
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - a.windowMs)) do
  total = total - #m
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - a.windowMs)
local extra = redis.call('ZCARD', KEYS[2]) - a.maxSamples
if extra > 0 then
  for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, extra - 1)) do
    total = total - #m
  end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, extra - 1)
end
while total > a.maxBytes do
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 63)
  if #oldest == 0 then
    total = 0
    break
  end
  local n = 0
  for _, m in ipairs(oldest) do
    if total <= a.maxBytes then
      break
    end
    total = total - #m
    n = n + 1
  end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, n - 1)
end
redis.call('SET', KEYS[4], total, 'EX', a.ttlSec)
redis.call('EXPIRE', KEYS[2], a.ttlSec)
return cjson.encode({kept = redis.call('ZCARD', KEYS[2])})
