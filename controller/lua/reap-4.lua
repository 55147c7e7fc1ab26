--[[
  The sweeper every controller runs a few times a second: re-delivers or fails jobs whose lease
  expired (see includes/reap-expired.lua) and trims the recent-jobs index (retention window, 100k entries).
  Atomic, so any number of controllers may run it at once.

  KEYS[1] base       prefix {<prefix>}: — job:<id>, log:<id>, idem:<key>, the job's queue (q:…) and the
                     counters stats and sched:<agentId> are built from it (same hash tag, same slot)
  KEYS[2] leases     ZSET job id -> lease expiry (ms)
  KEYS[3] selectors  SET of label selectors that have a queue
  KEYS[4] recent     ZSET job id -> createdAt

  ARGV[1] {limit: int, retentionSec: int, wakeChannel: string}
          limit: expired leases handled, at most

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
return cjson.encode({expired = reapExpired(KEYS[1], KEYS[2], KEYS[3], now, a.limit, a.retentionSec, a.wakeChannel)})
