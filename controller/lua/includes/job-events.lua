-- What the dashboard reads besides the job hashes and the job indexes (includes/job-index.lua, which
-- GET /v1/jobs pages): the event stream (GET /v1/events tails it) and per-minute counters
-- (GET /v1/overview). Written in the same script as the change they describe, so a page never sees a
-- state the stream did not announce. Scripts that include this one move jobs between indexes with
-- job-index.lua's indexState/indexJob.
-- Keys, all built from `base` (same hash tag, same slot; named in keys.ts):
--   events        STREAM of {e: json}, capped near EVENTS_MAXLEN (a reconnecting page resumes from it)
--   stats:<min>   HASH of counters for one minute (ms / 60000), kept a day (not the fleet counters
--                 `stats` of includes/finish-job.lua, which /metrics reads)
--- @include "job-index"
local EVENTS_MAXLEN = 10000
local STATS_TTL_SEC = 90000

local function emitEvent(base, ev)
  redis.call('XADD', base .. 'events', 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'e', cjson.encode(ev))
end

local function countStat(base, now, field, by)
  local key = base .. 'stats:' .. math.floor(now / 60000)
  redis.call('HINCRBY', key, field, by or 1)
  redis.call('EXPIRE', key, STATS_TTL_SEC)
end
