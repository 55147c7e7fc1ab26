--[[
  Hands an agent up to `max` queued jobs under a lease: the best (highest priority, then oldest)
  across its own queue, the any-agent queue and every label-selector queue its labels satisfy.
  Each claimed job gets epoch + 1 (the fencing token) and attempt + 1. Expired leases are reaped first
  (a bounded number), so a claim never waits for the sweeper to see work that came free.
  A repeated claimId answers with the jobs that claim already got, while they are still leased to this
  agent at that epoch: a response lost on the wire never orphans a job.
  A claim the controller re-runs for a waiting long-poll after a wake-up (ARGV[8] = '1') is not the
  agent speaking: it leaves lastSeenAt alone, and if the agent heartbeats but has not been heard from
  for half its lease (heartbeats come every third), it is frozen or cut off: nothing is handed out.

  KEYS[1] base       '<prefix>:{<ns>}:' — job:<id>, log:<id>, q:any, q:agent:<id>, q:sel:<selector>
                     are built from it inside the script (same hash tag, same slot)
  KEYS[2] agent      the agent's registry hash
  KEYS[3] leases     ZSET id -> lease expiry (ms)
  KEYS[4] selectors  SET of label selectors that have a queue
  KEYS[5] memo       claim memo for (agent, claimId)

  ARGV[1] agentId  ARGV[2] max  ARGV[3] memo TTL ms  ARGV[4] reap limit  ARGV[5] retentionSec
  ARGV[6] wake channel  ARGV[7] log cap bytes  ARGV[8] '1' when re-run after a wake-up (optional)

  Returns {'AGENT_UNKNOWN'}, {'AGENT_SILENT', now, labels JSON} (a woken claim for a silent agent), or
  {'ok', now, labels JSON, then per job: id, epoch, attempt, steps JSON, timeoutSec|'', logOffset, leaseMs}.
]]
--- @include "clock"
--- @include "finish-job"
--- @include "reap-expired"
--- @include "store-log"

local base, agentKey, leasesKey, selectorsKey, memoKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local agentId, max = ARGV[1], tonumber(ARGV[2])
local agent = redis.call('HMGET', agentKey, 'labels', 'leaseMs', 'lastSeenAt', 'heartbeatAt')
if not agent[2] then
  return {'AGENT_UNKNOWN'}
end
local leaseMs = tonumber(agent[2])
local now = nowMs()
if ARGV[8] == '1' then
  -- Judged only once it has heartbeated: a client that keeps its leases by per-job renew (allowed by the
  -- protocol) has no heartbeat to go stale.
  if agent[4] and now - tonumber(agent[3]) > leaseMs / 2 then
    return {'AGENT_SILENT', now, agent[1]}
  end
else
  redis.call('HSET', agentKey, 'lastSeenAt', now)
end
local out = {'ok', now, agent[1]}

local function emit(id, epoch, attempt, steps, timeoutSec, logOffset)
  out[#out + 1] = id
  out[#out + 1] = epoch
  out[#out + 1] = attempt
  out[#out + 1] = steps
  out[#out + 1] = timeoutSec
  out[#out + 1] = logOffset
  out[#out + 1] = leaseMs
end

local memo = redis.call('GET', memoKey)
if memo then
  for id, epoch in string.gmatch(memo, '(%S+) (%d+)') do
    local j = redis.call('HMGET', base .. 'job:' .. id, 'state', 'epoch', 'agent', 'attempt', 'steps', 'timeoutSec', 'logBytes', 'logBase')
    if j[1] == 'running' and j[2] == epoch and j[3] == agentId then
      emit(id, tonumber(epoch), tonumber(j[4]), j[5], j[6], tonumber(j[7]) - tonumber(j[8]))
    end
  end
  return out
end

reapExpired(base, leasesKey, selectorsKey, now, tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6])

local queues = {base .. 'q:agent:' .. agentId, base .. 'q:any'}
local labels = cjson.decode(agent[1])
for _, sel in ipairs(redis.call('SMEMBERS', selectorsKey)) do
  local match = true
  for k, v in string.gmatch(sel, '([^,=]+)=([^,]*)') do
    if labels[k] ~= v then
      match = false
      break
    end
  end
  if match then
    queues[#queues + 1] = base .. 'q:sel:' .. sel
  end
end

local heads = {}
local function peek(i)
  local h = redis.call('ZRANGE', queues[i], 0, 0, 'WITHSCORES')
  if h[1] then
    heads[i] = {h[1], tonumber(h[2])}
  else
    heads[i] = nil
    if i > 2 then
      -- An empty selector queue leaves the set so later claims stop looking at it.
      redis.call('SREM', selectorsKey, string.sub(queues[i], #base + 7))
    end
  end
end
for i = 1, #queues do
  peek(i)
end

local claimed = {}
while #claimed < max do
  local best
  for i, h in pairs(heads) do
    if not best or h[2] < heads[best][2] then
      best = i
    end
  end
  if not best then
    break
  end
  local id = heads[best][1]
  redis.call('ZREM', queues[best], id)
  peek(best)
  local jobKey = base .. 'job:' .. id
  local j = redis.call('HMGET', jobKey, 'state', 'epoch', 'attempt', 'steps', 'timeoutSec', 'logBytes')
  if j[1] == 'queued' then
    local epoch = tonumber(j[2]) + 1
    local attempt = tonumber(j[3]) + 1
    local logBase = tonumber(j[6])
    if attempt > 1 then
      -- Later attempts start their log after a marker, so the one log reads as a story.
      logBase = storeLog(jobKey, base .. 'log:' .. id,
        '\n--- httpagent: attempt ' .. attempt .. ' on agent ' .. agentId .. ' ---\n', tonumber(ARGV[7]))
    end
    redis.call('HSET', jobKey, 'state', 'running', 'epoch', epoch, 'attempt', attempt, 'agent', agentId,
      'startedAt', now, 'leaseMs', leaseMs, 'logBase', logBase)
    redis.call('ZADD', leasesKey, now + leaseMs, id)
    emit(id, epoch, attempt, j[4], j[5], 0)
    claimed[#claimed + 1] = id .. ' ' .. epoch
  end
end
if #claimed > 0 then
  redis.call('SET', memoKey, table.concat(claimed, '\n'), 'PX', ARGV[3])
end
return out
