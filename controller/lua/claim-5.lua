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
--- @include "claim-jobs"

return claimJobs(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4]),
  tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7]), ARGV[8] == '1')
