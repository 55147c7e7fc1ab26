--[[
  Agent liveness plus a batch lease renewal in one call. Each lease answers ok (extended),
  cancel (extended, but the platform asked to cancel) or stale (another attempt owns the job: stop).

  KEYS[1] base    '<prefix>:{<ns>}:' — job:<id> is built from it (same hash tag, same slot)
  KEYS[2] agent   the agent's registry hash
  KEYS[3] agents  ZSET agentId -> lastSeenAt
  KEYS[4] leases  ZSET id -> lease expiry (ms)

  ARGV[1] agentId  ARGV[2] state  ARGV[3] running  ARGV[4] agent TTL sec, then pairs (job id, epoch)

  Returns {'AGENT_UNKNOWN'} or {'ok', now, status per lease in order}.
]]
--- @include "clock"
--- @include "fence"

if redis.call('EXISTS', KEYS[2]) == 0 then
  return {'AGENT_UNKNOWN'}
end
local now = nowMs()
-- heartbeatAt marks an agent that heartbeats: from then on a woken claim checks it is still heard from.
redis.call('HSET', KEYS[2], 'lastSeenAt', now, 'heartbeatAt', now, 'state', ARGV[2], 'running', ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('ZADD', KEYS[3], now, ARGV[1])
local out = {'ok', now}
for i = 5, #ARGV, 2 do
  local id = ARGV[i]
  local j = redis.call('HMGET', KEYS[1] .. 'job:' .. id, 'state', 'epoch', 'leaseMs', 'cancel')
  if fence(j[1], j[2], ARGV[i + 1]) then
    out[#out + 1] = 'stale'
  else
    redis.call('ZADD', KEYS[4], now + tonumber(j[3]), id)
    out[#out + 1] = (j[4] == '1') and 'cancel' or 'ok'
  end
end
return out
