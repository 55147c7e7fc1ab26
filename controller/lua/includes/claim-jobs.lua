-- Hands an agent up to `max` queued jobs under a lease (the body of claim-6.lua, shared with the fused
-- complete-claim-6.lua); see claim-6.lua for the rules. `c`: the claim's part of the ARGV table
-- (agentId, max, memoTtlMs, reapLimit, wakeChannel, woken: re-run for a waiting long-poll).
-- An agent the platform drains (drain:<agentId>, POST /v1/agents/:id/drain) gets no new job; its memo
-- still answers, so a claim lost on the wire does not orphan the jobs it got before the drain.
-- Returns the table claim-6.lua answers, or {err = 'AGENT_UNKNOWN'}.
--- @include "clock"
--- @include "finish-job"
--- @include "reap-expired"
--- @include "store-log"
--- @include "job-events"
local function claimJobs(base, agentKey, leasesKey, selectorsKey, memoKey, c, retentionSec, logCap)
  local agent = redis.call('HMGET', agentKey, 'labels', 'leaseMs', 'lastSeenAt', 'heartbeatAt')
  if not agent[2] then
    return {err = 'AGENT_UNKNOWN'}
  end
  local leaseMs = tonumber(agent[2])
  local now = nowMs()
  local jobs = {}
  local out = {now = now, labels = agent[1], leaseMs = leaseMs, jobs = jobs}
  if c.woken then
    -- Judged only once it has heartbeated: a client that keeps its leases by per-job renew (allowed by the
    -- protocol) has no heartbeat to go stale.
    if agent[4] and now - tonumber(agent[3]) > leaseMs / 2 then
      out.silent = true
      return out
    end
  else
    redis.call('HSET', agentKey, 'lastSeenAt', now)
  end
  local agentId = c.agentId

  -- timeoutSec: '' in the job hash when the job has none (then left out of the reply).
  local function emit(id, epoch, attempt, steps, timeoutSec, logOffset)
    jobs[#jobs + 1] = {id = id, epoch = epoch, attempt = attempt, steps = steps, timeoutSec = tonumber(timeoutSec), logOffset = logOffset}
  end

  local memo = redis.call('GET', memoKey)
  if not memo and redis.call('EXISTS', base .. 'drain:' .. agentId) == 1 then
    out.drained = true
    return out
  end
  if memo then
    for id, epoch in string.gmatch(memo, '(%S+) (%d+)') do
      local j = redis.call('HMGET', base .. 'job:' .. id, 'state', 'epoch', 'agent', 'attempt', 'steps', 'timeoutSec', 'logBytes', 'logBase')
      if j[1] == 'running' and j[2] == epoch and j[3] == agentId then
        emit(id, tonumber(epoch), tonumber(j[4]), j[5], j[6], tonumber(j[7]) - tonumber(j[8]))
      end
    end
    return out
  end

  reapExpired(base, leasesKey, selectorsKey, now, c.reapLimit, retentionSec, c.wakeChannel)

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
  local leases = {}
  while #claimed < c.max do
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
    local j = redis.call('HMGET', jobKey, 'state', 'epoch', 'attempt', 'steps', 'timeoutSec', 'logBytes', 'createdAt')
    if j[1] == 'queued' then
      local epoch = tonumber(j[2]) + 1
      local attempt = tonumber(j[3]) + 1
      local logBase = tonumber(j[6])
      if attempt > 1 then
        -- Later attempts start their log after a marker, so the one log reads as a story.
        logBase = storeLog(jobKey, base .. 'log:' .. id,
          '\n--- httpagent: attempt ' .. attempt .. ' on agent ' .. agentId .. ' ---\n', logCap)
      end
      redis.call('HSET', jobKey, 'state', 'running', 'epoch', epoch, 'attempt', attempt, 'agent', agentId,
        'startedAt', now, 'leaseMs', leaseMs, 'logBase', logBase)
      indexState(base, id, 'queued', 'running', j[7])
      indexJob(base, 'a:' .. agentId, id, j[7])
      if attempt == 1 then
        -- Pickup latency: from submission to the first claim (later attempts wait for a lease to expire).
        countStat(base, now, 'picked')
        countStat(base, now, 'pickupMs', now - tonumber(j[7]))
      end
      emitEvent(base, {type = 'job', id = id, state = 'running', agent = agentId, attempt = attempt})
      leases[#leases + 1] = now + leaseMs
      leases[#leases + 1] = id
      emit(id, epoch, attempt, j[4], j[5], 0)
      claimed[#claimed + 1] = id .. ' ' .. epoch
    end
  end
  if #claimed > 0 then
    -- One ZADD for the whole claim: a batched complete-and-claim hands out dozens at a time.
    redis.call('ZADD', leasesKey, unpack(leases))
    redis.call('SET', memoKey, table.concat(claimed, '\n'), 'PX', c.memoTtlMs)
  end
  return out
end
