--[[
  The sweeper every controller runs a few times a second: re-delivers or fails jobs whose lease
  expired (see includes/reap-expired.lua) and trims the recent-jobs index (retention window, 100k entries).
  Atomic, so any number of controllers may run it at once.

  KEYS[1] base  '<prefix>:{<ns>}:' — job:<id>, log:<id>, idem:<key> and queue keys are built from it
  KEYS[2] leases  KEYS[3] selectors  KEYS[4] recent
  ARGV[1] limit  ARGV[2] retentionSec  ARGV[3] wake channel

  Returns the number of expired leases handled.
]]
--- @include "clock"
--- @include "finish-job"
--- @include "reap-expired"

local now = nowMs()
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - tonumber(ARGV[2]) * 1000)
-- The index is for browsing recent jobs: bounded by count too, however fast jobs arrive.
redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -100001)
return reapExpired(KEYS[1], KEYS[2], KEYS[3], now, tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3])
