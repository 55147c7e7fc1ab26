--[[
  Appends a chunk of an attempt's log, fenced by epoch. Offsets count bytes of this attempt's log:
  a chunk starting past the end is a gap (the agent resends from `expected`); the part of a chunk the
  controller already holds is skipped, so resending after a lost reply is harmless. Log traffic proves
  the agent alive, so it extends the lease too.

  KEYS[1] job  KEYS[2] log (segments, see includes/log-segments.lua)  KEYS[3] leases  ZSET id -> lease expiry (ms)
  ARGV[1] job id  ARGV[2] epoch  ARGV[3] offset  ARGV[4] bytes  ARGV[5] log cap bytes

  Returns {JOB_NOT_FOUND | STALE_EPOCH}, {'LOG_OFFSET_GAP', expected} or {'ok', new offset, cancel (0|1),
  where attempt offset 0 is stored (-1 once bytes were dropped at the cap): the controller cuts later
  chunks of the attempt for append-log-fast-3.lua with it}.
]]
--- @include "clock"
--- @include "fence"
--- @include "store-log"

local j = redis.call('HMGET', KEYS[1], 'state', 'epoch', 'leaseMs', 'cancel', 'logBytes', 'logBase')
local bad = fence(j[1], j[2], ARGV[2])
if bad then
  return {bad}
end
local logBase = tonumber(j[6])
local have = tonumber(j[5]) - logBase
local offset = tonumber(ARGV[3])
if offset > have then
  return {'LOG_OFFSET_GAP', have}
end
local data = ARGV[4]
local skip = have - offset
if skip < #data then
  -- Usually nothing to skip: pass the chunk as it came rather than a copy.
  have = storeLog(KEYS[1], KEYS[2], skip == 0 and data or string.sub(data, skip + 1), tonumber(ARGV[5])) - logBase
end
redis.call('ZADD', KEYS[3], nowMs() + tonumber(j[3]), ARGV[1])
local k = redis.call('HMGET', KEYS[1], 'logBytes', 'logKept')
local storedAt = (k[1] == k[2]) and logBase or -1
return {'ok', have, (j[4] == '1') and 1 or 0, storedAt}
