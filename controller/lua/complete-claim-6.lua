--[[
  Takes one or more attempts' results and, optionally, claims the agent's next jobs: one script, one
  round trip to Redis, for POST /v1/agent/jobs/:id/complete and the batched POST /v1/agent/complete.
  Each result is judged on its own (includes/complete-job.lua): a stale or short one is refused alone
  while the others are taken. The claim part follows claim-6.lua exactly (claimId memo included).
  Refused whole, before anything changes: a claim by an unknown agent or with a credential that is not
  the live one, and a result for a lease (current epoch) or an accepted result that belongs to another
  agent (AGENT_MISMATCH: a host cannot finish, or learn the fate of, another host's job).

  KEYS[1] base       prefix {<prefix>}: — job:<id>, log:<id>, idem:<key>, the queues q:any,
                     q:agent:<id>, q:sel:<selector>, the drain mark drain:<agentId>, the counters stats
                     and sched:<agentId>, the job indexes (jx:s:<state>, jx:<name>, jx:sets;
                     includes/job-index.lua), events and stats:<minute> are built from it (same hash
                     tag, same slot)
  KEYS[2] leases     ZSET job id -> lease expiry (ms)
  KEYS[3] agent      the claiming agent's registry hash (any key of the slot when no claim)
  KEYS[4] selectors  SET of label selectors that have a queue
  KEYS[5] memo       claim memo for (agent, claimId) (any key of the slot when no claim)
  KEYS[6] credential the claiming agent's live credential (any key of the slot when no claim)

  ARGV[1] {agentId: string, retentionSec: int, logCapBytes: int,
           results: [{id: string, epoch: int, outcome: string, error?: string, logBytes: int,
                      tail?: {offset: int, arg: int}, steps: [json]}],
           claim?: {agentId: string, max: int, memoTtlMs: int, reapLimit: int, wakeChannel: string,
                    when: 'all' | 'ok', credentialHash: string}}
          agentId: the caller, as its credential proved
          · tail: the log's last bytes riding on the result, from this attempt's `offset`, in ARGV[arg]
          · steps: each step's result as JSON text · claim.when 'all': claim whatever the results;
          'ok': only if every result was accepted or a duplicate (a single complete answers its
          refusal as an error, so it must not have claimed)
  ARGV[2], ARGV[3], ... the tails' bytes

  Returns {results: [{status: 'accepted' | 'duplicate' | 'JOB_NOT_FOUND' | 'STALE_EPOCH' | 'LOG_INCOMPLETE',
                      expected?: int}],
           claim?: claim-6.lua}
          results in the order given; expected: the bytes held, with LOG_INCOMPLETE · claim: the
          reply claim-6.lua gives, when a claim was made
  or {err: 'AGENT_UNKNOWN' | 'CREDENTIAL_REVOKED' | 'AGENT_MISMATCH'}.
]]
--- @include "clock"
--- @include "complete-job"
--- @include "claim-jobs"
--- @include "credential"

local a = cjson.decode(ARGV[1])
local base, leasesKey = KEYS[1], KEYS[2]
local claim = a.claim
if claim and not redis.call('HGET', KEYS[3], 'leaseMs') then
  return cjson.encode({err = 'AGENT_UNKNOWN'})
end
if claim and not credentialLive(KEYS[6], claim.credentialHash) then
  return cjson.encode({err = 'CREDENTIAL_REVOKED'})
end
for _, r in ipairs(a.results) do
  local j = redis.call('HMGET', base .. 'job:' .. r.id, 'state', 'epoch', 'doneEpoch', 'agent')
  if j[1] and j[4] ~= a.agentId
      and (tonumber(j[3]) == r.epoch or fence(j[1], j[2], r.epoch, j[4], a.agentId) == 'AGENT_MISMATCH') then
    return cjson.encode({err = 'AGENT_MISMATCH'})
  end
end
local now = nowMs()
local results = {}
local allOk = true
for i, r in ipairs(a.results) do
  local tail = r.tail and ARGV[r.tail.arg]
  local status, held = completeJob(base, leasesKey, r, tail, a.retentionSec, a.logCapBytes, now, a.agentId)
  if status ~= 'accepted' and status ~= 'duplicate' then
    allOk = false
  end
  results[i] = {status = status, expected = held}
end
local out = {results = results}
if claim and (claim.when == 'all' or allOk) then
  out.claim = claimJobs(base, KEYS[3], leasesKey, KEYS[4], KEYS[5], claim, a.retentionSec, a.logCapBytes)
end
return cjson.encode(out)
