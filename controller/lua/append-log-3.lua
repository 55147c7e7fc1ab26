--[[
  Appends a chunk of an attempt's log, fenced by epoch and by the lease's agent. Offsets count bytes of this attempt's log:
  a chunk starting past the end is a gap (the agent resends from `expected`); the part of a chunk the
  controller already holds is skipped, so resending after a lost reply is harmless. Log traffic proves
  the agent alive, so it extends the lease too.

  KEYS[1] job     the job's hash
  KEYS[2] log     the job's log, a LIST of segments (includes/log-segments.lua)
  KEYS[3] leases  ZSET job id -> lease expiry (ms)

  ARGV[1] {jobId: string, epoch: int, offset: int, capBytes: int, agentId: string}
          offset: where the chunk starts in this attempt's log · capBytes: the per-job log cap
          · agentId: the caller, as its credential proved
  ARGV[2] the chunk's bytes

  Returns {offset: int, cancel: bool, storedAt?: int}
          offset: this attempt's end of log now · cancel: the platform asked to cancel · storedAt: where
          this attempt's offset 0 is stored, absent once bytes were dropped at the cap (the controller
          cuts later chunks of the attempt for append-log-fast-3.lua with it)
  or {err: 'JOB_NOT_FOUND' | 'STALE_EPOCH' | 'AGENT_MISMATCH'} or {err: 'LOG_OFFSET_GAP', expected: int}
  (the bytes held).
]]
--- @include "clock"
--- @include "fence"
--- @include "store-log"

local a = cjson.decode(ARGV[1])
local j = redis.call('HMGET', KEYS[1], 'state', 'epoch', 'leaseMs', 'cancel', 'logBytes', 'logBase', 'agent')
local bad = fence(j[1], j[2], a.epoch, j[7], a.agentId)
if bad then
  return cjson.encode({err = bad})
end
local logBase = tonumber(j[6])
local have = tonumber(j[5]) - logBase
if a.offset > have then
  return cjson.encode({err = 'LOG_OFFSET_GAP', expected = have})
end
local data = ARGV[2]
local skip = have - a.offset
if skip < #data then
  -- Usually nothing to skip: pass the chunk as it came rather than a copy.
  have = storeLog(KEYS[1], KEYS[2], skip == 0 and data or string.sub(data, skip + 1), a.capBytes) - logBase
end
redis.call('ZADD', KEYS[3], nowMs() + tonumber(j[3]), a.jobId)
local k = redis.call('HMGET', KEYS[1], 'logBytes', 'logKept')
return cjson.encode({offset = have, cancel = j[4] == '1', storedAt = (k[1] == k[2]) and logBase or nil})
