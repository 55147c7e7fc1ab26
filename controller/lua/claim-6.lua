--[[
  Hands an agent up to `max` queued jobs under a lease: the best (highest priority, then oldest)
  across its own queue, the any-agent queue and every label-selector queue its labels satisfy.
  Each claimed job gets epoch + 1 (the fencing token) and attempt + 1. Expired leases are reaped first
  (a bounded number), so a claim never waits for the sweeper to see work that came free.
  A repeated claimId answers with the jobs that claim already got, while they are still leased to this
  agent at that epoch: a response lost on the wire never orphans a job.
  A claim the controller re-runs for a waiting long-poll after a wake-up (`woken`) is not the agent
  speaking: it leaves lastSeenAt alone, and if the agent heartbeats but has not been heard from for
  half its lease (heartbeats come every third), it is frozen or cut off: nothing is handed out.
  An agent whose credential is not the live one (revoked since a controller cached it) gets nothing.

  KEYS[1] base       prefix {<prefix>}: — job:<id>, log:<id>, idem:<key>, the queues q:any,
                     q:agent:<id>, q:sel:<selector>, the drain mark drain:<agentId>, the counters stats
                     and sched:<agentId>, the job indexes (jx:s:<state>, jx:<name>, jx:sets;
                     includes/job-index.lua), events and stats:<minute> are built from it (same hash
                     tag, same slot)
  KEYS[2] agent      the agent's registry hash
  KEYS[3] leases     ZSET job id -> lease expiry (ms)
  KEYS[4] selectors  SET of label selectors that have a queue
  KEYS[5] memo       claim memo for (agent, claimId)
  KEYS[6] credential the agent's live credential (JSON {hash, issuedAt})

  ARGV[1] {agentId: string, max: int, memoTtlMs: int, reapLimit: int, wakeChannel: string, woken: bool,
           retentionSec: int, logCapBytes: int, credentialHash: string}
          reapLimit: expired leases reaped first, at most · credentialHash: SHA-256 (hex) of the
          secret the caller presented

  Returns {now: int, labels: json, leaseMs: int, silent?: true, drained?: true,
           jobs: [{id: string, epoch: int, attempt: int, steps: json, timeoutSec?: int, logOffset: int}]}
          labels: the agent's labels as JSON text · silent: a woken claim for a silent agent, no jobs
          · drained: the platform drained the agent (drain:<agentId>), no new jobs
          · steps: the job's step specs as JSON text · logOffset: log bytes held for this epoch
  or {err: 'AGENT_UNKNOWN' | 'CREDENTIAL_REVOKED'}.
]]
--- @include "claim-jobs"
--- @include "credential"

local a = cjson.decode(ARGV[1])
if not credentialLive(KEYS[6], a.credentialHash) then
  return cjson.encode({err = 'CREDENTIAL_REVOKED'})
end
return cjson.encode(claimJobs(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], a, a.retentionSec, a.logCapBytes))
