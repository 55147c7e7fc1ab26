--[[
  Takes one or more attempts' results and, optionally, claims the agent's next jobs: one script, one
  round trip to Redis, for POST /v1/agent/jobs/:id/complete and the batched POST /v1/agent/complete.
  Each result is judged on its own (includes/complete-job.lua): a stale or short one is refused alone
  while the others are taken. The claim part follows claim-5.lua exactly (claimId memo included).
  Claim mode 'all' claims whatever the results; 'ok' claims only if every result was accepted or a
  duplicate (a single complete answers its refusal as an error, so it must not have claimed).
  An unknown agent with a claim refuses the whole call before anything changes.

  KEYS[1] base       '<prefix>:{<ns>}:' — job:<id>, log:<id>, queues built from it (same slot)
  KEYS[2] leases     ZSET id -> lease expiry (ms)
  KEYS[3] agent      the claiming agent's registry hash (any key of the slot when no claim)
  KEYS[4] selectors  SET of label selectors that have a queue
  KEYS[5] memo       claim memo for (agent, claimId) (any key of the slot when no claim)

  ARGV[1] retentionSec  ARGV[2] log cap bytes  ARGV[3] number of results  ARGV[4] claim mode ''|'all'|'ok'
  ARGV[5] agentId  ARGV[6] max  ARGV[7] memo TTL ms  ARGV[8] reap limit  ARGV[9] wake channel
  then per result: id, epoch, outcome, error|'', logBytes, tail offset|'', tail bytes, nsteps, step JSON × nsteps

  Returns {'AGENT_UNKNOWN'} or {'ok', n, then per result: status, bytes held (LOG_INCOMPLETE) | 0,
  then, if a claim was made, the claim's reply as claim-5.lua gives it ('ok', now, labels, jobs...)}.
]]
--- @include "clock"
--- @include "complete-job"
--- @include "claim-jobs"

local base, leasesKey = KEYS[1], KEYS[2]
local mode = ARGV[4]
if mode ~= '' and not redis.call('HGET', KEYS[3], 'leaseMs') then
  return {'AGENT_UNKNOWN'}
end
local retentionSec, logCap, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local now = nowMs()
local out = {'ok', n}
local allOk = true
local a = 10
for _ = 1, n do
  local nsteps = tonumber(ARGV[a + 7])
  local steps = {}
  for i = 1, nsteps do
    steps[i] = ARGV[a + 7 + i]
  end
  local tailOffset = ARGV[a + 5] ~= '' and tonumber(ARGV[a + 5]) or nil
  local status, held = completeJob(base, leasesKey, ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2], ARGV[a + 3],
    tonumber(ARGV[a + 4]), retentionSec, steps, tailOffset, ARGV[a + 6], logCap, now)
  if status ~= 'accepted' and status ~= 'duplicate' then
    allOk = false
  end
  out[#out + 1] = status
  out[#out + 1] = held or 0
  a = a + 8 + nsteps
end
if mode == 'all' or (mode == 'ok' and allOk) then
  local claimed = claimJobs(base, KEYS[3], leasesKey, KEYS[4], KEYS[5], ARGV[5], tonumber(ARGV[6]), ARGV[7],
    tonumber(ARGV[8]), retentionSec, ARGV[9], logCap, false)
  for _, v in ipairs(claimed) do
    out[#out + 1] = v
  end
end
return out
