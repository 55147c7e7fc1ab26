--[[
  Revokes an agent (DELETE /v1/agents/:id), all at once: its live credential is dropped (the hash kept
  aside, so its holder hears CREDENTIAL_REVOKED rather than UNAUTHORIZED), every job it holds goes back to
  its queue for another attempt, whatever its attempts (a revoked host's attempt is not the job's
  fault), or ends cancelled if its cancel was requested, and every controller is told to forget the
  credential. From the moment this runs, a claim by the agent is refused (claim-6.lua checks the
  credential) and every call of its leases is stale. The event stream announces the agent revoked
  (and each job it gave back).

  KEYS[1] base        prefix {<prefix>}: — job:<id>, log:<id>, idem:<key>, the job's queue (q:…), the
                      counters stats and sched:<agentId>, the job indexes (jx:s:<state>, jx:<name>,
                      jx:sets; includes/job-index.lua), events and stats:<minute> are built from it (same
                      hash tag, same slot)
  KEYS[2] credential  the agent's live credential (JSON {hash, issuedAt})
  KEYS[3] revoked     the hash of its last revoked credential
  KEYS[4] used        HASH agentId -> when its credential was last used
  KEYS[5] agent       the agent's registry hash
  KEYS[6] leases      ZSET job id -> lease expiry (ms)
  KEYS[7] selectors   SET of label selectors that have a queue

  ARGV[1] {agentId: string, retentionSec: int, wakeChannel: string, revokeChannel: string}
          revokeChannel: where the agent id is published for every controller's credential cache

  Returns {requeued: int, cancelled: int} (the jobs it held)
  or {err: 'AGENT_NOT_FOUND'} (no credential, revoked or live, and no registry entry).
]]
--- @include "clock"
--- @include "finish-job"
--- @include "requeue-job"

local a = cjson.decode(ARGV[1])
local live = redis.call('GET', KEYS[2])
if not live and redis.call('EXISTS', KEYS[3]) == 0 and redis.call('EXISTS', KEYS[5]) == 0 then
  return cjson.encode({err = 'AGENT_NOT_FOUND'})
end
if live then
  redis.call('SET', KEYS[3], cjson.decode(live).hash)
  redis.call('DEL', KEYS[2])
  redis.call('HDEL', KEYS[4], a.agentId)
end
local now = nowMs()
-- Leases are indexed by job, not by agent: every lease is looked at. Revocation is rare, and a lease
-- costs one HMGET; ten thousand running jobs take a few milliseconds.
local requeued, cancelled = 0, 0
local wakes = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[6], 0, -1)) do
  local jobKey = KEYS[1] .. 'job:' .. id
  local j = redis.call('HMGET', jobKey, 'state', 'agent', 'cancel', 'attempt', 'q', 'score', 'nsteps', 'sel', 'wake', 'createdAt')
  if j[1] == 'running' and j[2] == a.agentId then
    if j[3] == '1' then
      finishJob(KEYS[1], KEYS[6], jobKey, id, 'cancelled', 'cancelled; agent ' .. a.agentId .. ' was revoked before it confirmed', now, a.retentionSec)
      cancelled = cancelled + 1
    else
      wakes[#wakes + 1] = '1\t' .. requeueJob(KEYS[1], KEYS[6], KEYS[7], jobKey, id,
        {q = j[5], score = j[6], nsteps = j[7], sel = j[8], wake = j[9], createdAt = j[10], agent = a.agentId, attempt = j[4]},
        'agent ' .. a.agentId .. ' was revoked (attempt ' .. j[4] .. ')')
      requeued = requeued + 1
    end
  end
end
if #wakes > 0 then
  redis.call('PUBLISH', a.wakeChannel, table.concat(wakes, '\n'))
end
redis.call('PUBLISH', a.revokeChannel, a.agentId)
emitEvent(KEYS[1], {type = 'agent', id = a.agentId, state = 'revoked'})
return cjson.encode({requeued = requeued, cancelled = cancelled})
