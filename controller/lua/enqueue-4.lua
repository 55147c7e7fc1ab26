--[[
  Enqueues one job or a whole batch atomically (the caller validated everything first, so the script
  cannot stop half way), and announces the new work on the wake channel.

  KEYS[1] base     '<prefix>:{<ns>}:' — job:<id>, idem:<key> and the queue keys q:any, q:agent:<id>,
                   q:sel:<selector> are built from it inside the script (same hash tag, same slot)
  KEYS[2] seq      counter giving FIFO order within a priority
  KEYS[3] selectors  SET of label selectors that have a queue
  KEYS[4] recent   ZSET id -> createdAt, for listing recent jobs

  ARGV[1] wake channel   ARGV[2] wake message   ARGV[3] number of jobs
  then per job, 11 values: id, idempotencyKey|'', queue suffix (q:any | q:agent:<id> | q:sel:<sel>),
    selector|'', wake target, priority, maxAttempts, timeoutSec|'', number of steps, steps JSON,
    target JSON

  Returns a flat array: per job id, state, created (1) or existing job for the idempotency key (0).
]]
--- @include "clock"

local base = KEYS[1]
local now = nowMs()
local n = tonumber(ARGV[3])
local out = {}
local created = 0
for i = 0, n - 1 do
  local a = 4 + i * 11
  local id, idem = ARGV[a], ARGV[a + 1]
  local existing = false
  if idem ~= '' then
    existing = redis.call('GET', base .. 'idem:' .. idem)
    if not existing then
      redis.call('SET', base .. 'idem:' .. idem, id)
    end
  end
  if existing then
    out[#out + 1] = existing
    out[#out + 1] = redis.call('HGET', base .. 'job:' .. existing, 'state') or 'queued'
    out[#out + 1] = 0
  else
    local q, sel, wake = ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
    local score = (100 - tonumber(ARGV[a + 5])) * 1e12 + redis.call('INCR', KEYS[2])
    redis.call('HSET', base .. 'job:' .. id,
      'state', 'queued', 'attempt', 0, 'epoch', 0, 'doneEpoch', 0,
      'priority', ARGV[a + 5], 'maxAttempts', ARGV[a + 6], 'timeoutSec', ARGV[a + 7],
      'nsteps', ARGV[a + 8], 'steps', ARGV[a + 9], 'target', ARGV[a + 10],
      'q', q, 'sel', sel, 'wake', wake, 'score', fmt(score), 'idem', idem,
      'createdAt', now, 'logBytes', 0, 'logKept', 0, 'logBase', 0)
    redis.call('ZADD', base .. q, fmt(score), id)
    if sel ~= '' then
      redis.call('SADD', KEYS[3], sel)
    end
    redis.call('ZADD', KEYS[4], now, id)
    out[#out + 1] = id
    out[#out + 1] = 'queued'
    out[#out + 1] = 1
    created = created + 1
  end
end
if created > 0 then
  redis.call('PUBLISH', ARGV[1], ARGV[2])
end
return out
