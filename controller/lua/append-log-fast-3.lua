--[[
  The same append as append-log-3.lua for a chunk whose bytes never enter Lua: run in one MULTI right
  after `RPUSH log <segments>`, where the controller cut the chunk for the position it expects it to be
  stored at (a top-up of the partial last segment, passed here, then whole segments; see
  includes/log-segments.lua). Passing a MiB through Lua's ARGV costs Redis several copies; RPUSH takes it
  as it came off the socket. Anything that does not match the expectation exactly (a resend overlapping
  what is held, the cap, another controller's append in between) undoes the push and answers slow: the
  controller sends the chunk through append-log-3.lua instead.

  KEYS[1] job     the job's hash
  KEYS[2] log     the job's log, a LIST of segments (includes/log-segments.lua)
  KEYS[3] leases  ZSET job id -> lease expiry (ms)

  ARGV[1] {jobId: string, epoch: int, offset: int, length: int, capBytes: int, storedAt: int, pushed: int,
           agentId: string}
          length: the chunk's bytes · storedAt: where attempt offset 0 is stored, as the controller expects
          it · pushed: the segments the RPUSH before this script added · agentId: the caller, as its
          credential proved (another agent's chunk is refused and its push undone)
  ARGV[2] the top-up bytes: the head of the chunk that fills the partial last segment (may be empty)

  Returns {offset: int, cancel: bool} | {slow: true} (nothing changed)
  or the refusals of append-log-3.lua, the push undone.
]]
--- @include "clock"
--- @include "fence"
--- @include "log-segments"

local a = cjson.decode(ARGV[1])
local pushed = a.pushed
local function undo()
  if pushed > 0 then
    redis.call('LTRIM', KEYS[2], 0, -(pushed + 1))
  end
end
local j = redis.call('HMGET', KEYS[1], 'state', 'epoch', 'leaseMs', 'cancel', 'logBytes', 'logBase', 'logKept', 'agent')
local bad = fence(j[1], j[2], a.epoch, j[8], a.agentId)
if bad then
  undo()
  return cjson.encode({err = bad})
end
local logBytes, logBase, kept = tonumber(j[5]), tonumber(j[6]), tonumber(j[7])
local have = logBytes - logBase
local offset, len = a.offset, a.length
if offset > have then
  undo()
  return cjson.encode({err = 'LOG_OFFSET_GAP', expected = have})
end
local topUp = ARGV[2]
local used = kept % LOG_SEGMENT_BYTES
local expectTop = (kept > 0 and used > 0) and math.min(LOG_SEGMENT_BYTES - used, len) or 0
local segments = math.ceil(kept / LOG_SEGMENT_BYTES)
if offset ~= have or kept ~= logBytes or logBase ~= a.storedAt or kept + len > a.capBytes
    or #topUp ~= expectTop or pushed ~= math.ceil((len - #topUp) / LOG_SEGMENT_BYTES)
    or redis.call('LLEN', KEYS[2]) ~= segments + pushed then
  undo()
  return cjson.encode({slow = true})
end
if #topUp > 0 then
  local at = -(pushed + 1)
  redis.call('LSET', KEYS[2], at, redis.call('LINDEX', KEYS[2], at) .. topUp)
end
redis.call('HINCRBY', KEYS[1], 'logKept', len)
redis.call('HINCRBY', KEYS[1], 'logBytes', len)
redis.call('ZADD', KEYS[3], nowMs() + tonumber(j[3]), a.jobId)
return cjson.encode({offset = have + len, cancel = j[4] == '1'})
