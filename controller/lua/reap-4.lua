--[[
  The sweeper every controller runs a few times a second: re-delivers or fails jobs whose lease
  expired (see includes/reap-expired.lua) and trims the recent-jobs index and the job indexes of
  includes/job-index.lua (retention window, 100k entries; the named ones a few at random each sweep).
  Atomic, so any number of controllers may run it at once.

  KEYS[1] base       prefix {<prefix>}: — job:<id>, log:<id>, idem:<key>, the job's queue (q:…), the
                     counters stats and sched:<agentId>, the job indexes (jx:s:<state>, jx:<name>,
                     jx:sets; includes/job-index.lua), events and stats:<minute> are built from it (same
                     hash tag, same slot)
  KEYS[2] leases     ZSET job id -> lease expiry (ms)
  KEYS[3] selectors  SET of label selectors that have a queue
  KEYS[4] recent     ZSET job id -> createdAt

  ARGV[1] {limit: int, retentionSec: int, wakeChannel: string, trimIndexes: int}
          limit: expired leases handled, at most · trimIndexes: named job indexes trimmed, at most

  Returns {expired: int} (the expired leases handled).
]]
--- @include "clock"
--- @include "finish-job"
--- @include "reap-expired"

local a = cjson.decode(ARGV[1])
local now = nowMs()
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - a.retentionSec * 1000)
-- The index is for browsing recent jobs: bounded by count too, however fast jobs arrive.
redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -100001)
-- The job indexes under the same bounds; an entry whose job expired early is skipped by the reader.
local function trim(key)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - a.retentionSec * 1000)
  redis.call('ZREMRANGEBYRANK', key, 0, -100001)
end
for _, state in ipairs({'queued', 'running', 'succeeded', 'failed', 'cancelled'}) do
  trim(KEYS[1] .. 'jx:s:' .. state)
end
for _, name in ipairs(redis.call('SRANDMEMBER', KEYS[1] .. 'jx:sets', a.trimIndexes)) do
  trim(KEYS[1] .. 'jx:' .. name)
  if redis.call('ZCARD', KEYS[1] .. 'jx:' .. name) == 0 then
    redis.call('SREM', KEYS[1] .. 'jx:sets', name)
  end
end
return cjson.encode({expired = reapExpired(KEYS[1], KEYS[2], KEYS[3], now, a.limit, a.retentionSec, a.wakeChannel)})
