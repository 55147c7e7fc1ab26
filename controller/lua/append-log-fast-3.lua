--[[
  The same append as append-log-3.lua for a chunk whose bytes never enter Lua: run in one MULTI right
  after `RPUSH log <segments>`, where the controller cut the chunk for the position it expects it to be
  stored at (a top-up of the partial last segment, passed here, then whole segments; see
  includes/log-segments.lua). Passing a MiB through Lua's ARGV costs Redis several copies; RPUSH takes it
  as it came off the socket. Anything that does not match the expectation exactly (a resend overlapping
  what is held, the cap, another controller's append in between) undoes the push and answers SLOW:
  the controller sends the chunk through append-log-3.lua instead.

  KEYS[1] job  KEYS[2] log  KEYS[3] leases  ZSET id -> lease expiry (ms)
  ARGV[1] job id  ARGV[2] epoch  ARGV[3] offset  ARGV[4] chunk bytes  ARGV[5] log cap bytes
  ARGV[6] where attempt offset 0 is stored, as expected  ARGV[7] segments pushed  ARGV[8] top-up bytes

  Returns as append-log-3.lua, or {'SLOW'} with nothing changed.
]]
--- @include "clock"
--- @include "fence"
--- @include "log-segments"

local pushed = tonumber(ARGV[7])
local function undo()
  if pushed > 0 then
    redis.call('LTRIM', KEYS[2], 0, -(pushed + 1))
  end
end
local j = redis.call('HMGET', KEYS[1], 'state', 'epoch', 'leaseMs', 'cancel', 'logBytes', 'logBase', 'logKept')
local bad = fence(j[1], j[2], ARGV[2])
if bad then
  undo()
  return {bad}
end
local logBytes, logBase = tonumber(j[5]), tonumber(j[6])
local kept = tonumber(j[7])
local have = logBytes - logBase
local offset, len = tonumber(ARGV[3]), tonumber(ARGV[4])
if offset > have then
  undo()
  return {'LOG_OFFSET_GAP', have}
end
local topUp = ARGV[8]
local used = kept % LOG_SEGMENT_BYTES
local expectTop = (kept > 0 and used > 0) and math.min(LOG_SEGMENT_BYTES - used, len) or 0
local segments = math.ceil(kept / LOG_SEGMENT_BYTES)
if offset ~= have or kept ~= logBytes or logBase ~= tonumber(ARGV[6]) or kept + len > tonumber(ARGV[5])
    or #topUp ~= expectTop or pushed ~= math.ceil((len - #topUp) / LOG_SEGMENT_BYTES)
    or redis.call('LLEN', KEYS[2]) ~= segments + pushed then
  undo()
  return {'SLOW'}
end
if #topUp > 0 then
  local at = -(pushed + 1)
  redis.call('LSET', KEYS[2], at, redis.call('LINDEX', KEYS[2], at) .. topUp)
end
redis.call('HINCRBY', KEYS[1], 'logKept', len)
redis.call('HINCRBY', KEYS[1], 'logBytes', len)
redis.call('ZADD', KEYS[3], nowMs() + tonumber(j[3]), ARGV[1])
return {'ok', have + len, (j[4] == '1') and 1 or 0, logBase}
