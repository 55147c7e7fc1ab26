--[[
  Enqueues one job as enqueue-4.lua does and, in the same script, makes the claim of an agent whose
  long-poll waits on the controller that queued it, as claim-6.lua would after a wake-up (`woken`: a
  silent agent gets nothing). The job reaches that agent without a second script's round trip. The
  claim takes the best job for the agent as any claim does, which may be an older one; the wake is
  published only if the new job is still queued after it.
  The claim is made only if the job was created (not an idempotency key seen before), the agent is
  registered and its credential is the live one; otherwise no `claim` is answered and nothing of the
  agent changed: the controller wakes the waiting claim as usual, and it claims (and is refused) itself.

  KEYS[1] base       prefix {<prefix>}: — job:<id>, log:<id>, idem:<key>, the queues q:any,
                     q:agent:<id>, q:sel:<selector>, the drain mark drain:<agentId>, the counters stats
                     and sched:<agentId>, the job indexes (jx:s:<state>, jx:<name>, jx:sets;
                     includes/job-index.lua), events and stats:<minute> are built from it (same hash
                     tag, same slot)
  KEYS[2] seq        counter giving FIFO order within a priority
  KEYS[3] selectors  SET of label selectors that have a queue
  KEYS[4] recent     ZSET job id -> createdAt, for listing recent jobs
  KEYS[5] agent      the waiting agent's registry hash
  KEYS[6] leases     ZSET job id -> lease expiry (ms)
  KEYS[7] memo       claim memo for (agent, claimId) of the waiting claim
  KEYS[8] credential the waiting agent's live credential (JSON {hash, issuedAt})

  ARGV[1] {wakeChannel: string, wakeMessage: string,
           jobs: [{id: string, idem?: string, queue: string, selector?: string, wake: string, priority: int,
                   maxAttempts: int, timeoutSec?: int, steps: json, stepCount: int, target: json,
                   tasks: string, indexes: [string], schedule?: {agentId: string, name: string}}],
           claim: {agentId: string, max: int, memoTtlMs: int, reapLimit: int, wakeChannel: string,
                   woken: bool, retentionSec: int, logCapBytes: int, credentialHash: string}}
          jobs: one job, as enqueue-4.lua takes it · claim: the waiting claim's table, as claim-6.lua
          takes it (woken: always true)

  Returns {jobs: [{id: string, state: string, created: bool}], claim?: claim-6.lua}
          jobs: as enqueue-4.lua answers them · claim: the reply claim-6.lua gives, when the claim was
          made (its jobs may not include the new one, or be none at all: a drained agent, a silent one)
]]
--- @include "enqueue-jobs"
--- @include "claim-jobs"
--- @include "credential"

local a = cjson.decode(ARGV[1])
local base = KEYS[1]
local out, created = enqueueJobs(base, KEYS[2], KEYS[3], KEYS[4], a, nowMs())
local reply = {jobs = out}
local c = a.claim
if created > 0 and redis.call('HGET', KEYS[5], 'leaseMs') and credentialLive(KEYS[8], c.credentialHash) then
  reply.claim = claimJobs(base, KEYS[5], KEYS[6], KEYS[3], KEYS[7], c, c.retentionSec, c.logCapBytes)
end
if created > 0 and redis.call('HGET', base .. 'job:' .. out[1].id, 'state') == 'queued' then
  redis.call('PUBLISH', a.wakeChannel, a.wakeMessage)
end
return cjson.encode(reply)
