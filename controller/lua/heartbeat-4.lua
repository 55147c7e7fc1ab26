--[[
  Agent liveness plus a batch lease renewal in one call. Each lease answers ok (extended),
  cancel (extended, but the platform asked to cancel) or stale (another attempt owns the job: stop).
  A lease named with its current epoch that another agent holds refuses the whole call before anything
  changes (AGENT_MISMATCH): a host cannot keep another host's job alive, nor look alive by it.
  A change the fleet page shows (state, running, or back after quietMs of silence) goes on the event stream.

  KEYS[1] base    prefix {<prefix>}: — job:<id>, drain:<agentId> and events are built from it (same
                  hash tag, same slot; the job indexes jx:s:<state>, jx:<name>, jx:sets of
                  includes/job-index.lua and stats:<minute> of includes/job-events.lua are never written here)
  KEYS[2] agent   the agent's registry hash
  KEYS[3] agents  ZSET agentId -> lastSeenAt
  KEYS[4] leases  ZSET job id -> lease expiry (ms)

  ARGV[1] {agentId: string, state: string, running: int, ttlSec: int, quietMs: int,
           leases: [{id: string, epoch: int}]}
          agentId: the caller, as its credential proved · ttlSec: how long the registry hash outlives
          the agent's silence · quietMs: silence after which the agent is shown offline (offlineAfterMs)

  Returns {now: int, leases: {[id]: 'ok' | 'cancel' | 'stale'}} or {err: 'AGENT_UNKNOWN' | 'AGENT_MISMATCH'}.
]]
--- @include "clock"
--- @include "fence"
--- @include "job-events"

local a = cjson.decode(ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 0 then
  return cjson.encode({err = 'AGENT_UNKNOWN'})
end
-- Every lease is judged before anything is written, so a refusal leaves no trace.
local judged = {}
for i, l in ipairs(a.leases) do
  local j = redis.call('HMGET', KEYS[1] .. 'job:' .. l.id, 'state', 'epoch', 'leaseMs', 'cancel', 'agent')
  local bad = fence(j[1], j[2], l.epoch, j[5], a.agentId)
  if bad == 'AGENT_MISMATCH' then
    return cjson.encode({err = bad})
  end
  judged[i] = {bad = bad, leaseMs = j[3], cancel = j[4]}
end
local now = nowMs()
local was = redis.call('HMGET', KEYS[2], 'state', 'running', 'lastSeenAt')
if was[1] ~= a.state or tonumber(was[2]) ~= a.running or now - tonumber(was[3] or 0) > a.quietMs then
  -- A drained agent still says online: the page shows what the platform asked for.
  local shown = a.state
  if redis.call('EXISTS', KEYS[1] .. 'drain:' .. a.agentId) == 1 then
    shown = 'draining'
  end
  emitEvent(KEYS[1], {type = 'agent', id = a.agentId, state = shown, running = a.running, lastSeenAt = now})
end
-- heartbeatAt marks an agent that heartbeats: from then on a woken claim checks it is still heard from.
redis.call('HSET', KEYS[2], 'lastSeenAt', now, 'heartbeatAt', now, 'state', a.state, 'running', a.running)
redis.call('EXPIRE', KEYS[2], a.ttlSec)
redis.call('ZADD', KEYS[3], now, a.agentId)
local leases = {}
for i, l in ipairs(a.leases) do
  local j = judged[i]
  if j.bad then
    leases[l.id] = 'stale'
  else
    redis.call('ZADD', KEYS[4], now + tonumber(j.leaseMs), l.id)
    leases[l.id] = (j.cancel == '1') and 'cancel' or 'ok'
  end
end
return cjson.encode({now = now, leases = leases})
