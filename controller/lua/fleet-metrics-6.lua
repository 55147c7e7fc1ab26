--[[
  Reads the whole fleet's numbers for GET /metrics in one round trip, never scanning jobs: the work is
  bounded by the fleet (agents, label selectors, running leases up to maxLeases, schedules), and the
  finished-job, lease-expiry and schedule counters are the ones the scripts keep in stats as they go.
  Read only, so any number of controllers may serve /metrics and all report the same numbers.

  KEYS[1] base       prefix {<prefix>}: — the queues q:any, q:agent:<id>, q:sel:<selector>, job:<id>,
                     agent:<id>, cred:<id>, cred-revoked:<id>, mon:hb:<id> and sched:<id> are built from
                     it (same hash tag, same slot)
  KEYS[2] agents     ZSET agentId -> lastSeenAt
  KEYS[3] leases     ZSET job id -> lease expiry (ms)
  KEYS[4] selectors  SET of label selectors that have a queue
  KEYS[5] seen       HASH agentId -> when its monitor was last seen (ms)
  KEYS[6] stats      HASH of fleet counters (keys.ts: finished|…, leaseExpired|…, sched|…)

  ARGV[1] {offlineAfterMs: int, maxLeases: int}
          maxLeases: running jobs looked at to count them by queue, at most (the total is exact anyway)

  Returns {now: int, leases: int, leasesCounted: int,
           queues: [{queue: string, queued: int, running: int, headWaitMs?: int}],
           agents: [{id: string, state: string, lastSeenAt: int, monitor: 'alive' | 'lapsed' | 'none',
                     schedules: [{name: string, state: string, finishedAt: int}]}],
           stats: [string]}
          queue: the queue key after the prefix and 'q:' (any | agent:<id> | sel:<selector>) · state:
          online | draining | offline | revoked · headWaitMs: how long the job next in line has waited
          since it (re)entered its queue · stats: the counters as field, value, field, value, ...
]]
--- @include "clock"

local a = cjson.decode(ARGV[1])
local base = KEYS[1]
local now = nowMs()

local queues = {}
local byName = {}
local function queue(name)
  local q = byName[name]
  if not q then
    q = {queue = name, queued = 0, running = 0}
    byName[name] = q
    queues[#queues + 1] = q
  end
  return q
end
local function look(name)
  local key = base .. 'q:' .. name
  local n = redis.call('ZCARD', key)
  if n == 0 then
    return
  end
  local q = queue(name)
  q.queued = n
  local head = redis.call('ZRANGE', key, 0, 0)[1]
  local t = redis.call('HMGET', base .. 'job:' .. head, 'queuedAt', 'createdAt')
  local since = tonumber(t[1] or t[2])
  if since then
    q.headWaitMs = math.max(0, now - since)
  end
end

queue('any')
look('any')
for _, sel in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  look('sel:' .. sel)
end

local agents = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  look('agent:' .. id)
  local h = redis.call('HMGET', base .. 'agent:' .. id, 'state', 'lastSeenAt')
  -- A registry hash that expired (retention) is a host long gone: GET /v1/agents drops it too.
  if h[2] then
    local lastSeen = tonumber(h[2])
    local state = h[1]
    if redis.call('EXISTS', base .. 'cred:' .. id) == 0 and redis.call('EXISTS', base .. 'cred-revoked:' .. id) == 1 then
      state = 'revoked'
    elseif now - lastSeen > a.offlineAfterMs then
      state = 'offline'
    end
    local monitor = 'none'
    if redis.call('EXISTS', base .. 'mon:hb:' .. id) == 1 then
      monitor = 'alive'
    elseif redis.call('HGET', KEYS[5], id) then
      monitor = 'lapsed'
    end
    local schedules = {}
    local runs = redis.call('HGETALL', base .. 'sched:' .. id)
    for i = 1, #runs, 2 do
      local r = cjson.decode(runs[i + 1])
      schedules[#schedules + 1] = {name = runs[i], state = r.state, finishedAt = r.finishedAt}
    end
    agents[#agents + 1] = {id = id, state = state, lastSeenAt = lastSeen, monitor = monitor, schedules = schedules}
  end
end

local leases = redis.call('ZCARD', KEYS[3])
local ids = redis.call('ZRANGE', KEYS[3], 0, a.maxLeases - 1)
for _, id in ipairs(ids) do
  local q = redis.call('HGET', base .. 'job:' .. id, 'q')
  if q then
    local r = queue(string.sub(q, 3))
    r.running = r.running + 1
  end
end

return cjson.encode({now = now, leases = leases, leasesCounted = #ids, queues = queues, agents = agents,
  stats = redis.call('HGETALL', KEYS[6])})
