-- What the dashboard reads besides the job hashes: the event stream (GET /v1/events tails it), the job
-- indexes (GET /v1/jobs pages them) and per-minute counters (GET /v1/overview). Written in the same
-- script as the change they describe, so a page never sees a state the stream did not announce.
-- Keys, all built from `base` (same hash tag, same slot; named in keys.ts):
--   events        STREAM of {e: json}, capped near EVENTS_MAXLEN (a reconnecting page resumes from it)
--   jx:s:<state>  ZSET job id -> createdAt, one per job state
--   jx:<name>     ZSET job id -> createdAt for a task (t:), a target label (l:k=v) or an agent (a:)
--   jx:sets       SET of those <name>s, so the sweeper can trim them
--   stats:<min>   HASH of counters for one minute (ms / 60000), kept a day
local EVENTS_MAXLEN = 10000
local STATS_TTL_SEC = 90000

local function emitEvent(base, ev)
  redis.call('XADD', base .. 'events', 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'e', cjson.encode(ev))
end

-- Moves a job to `to`'s state index; `from` nil: the job is new to the indexes.
local function indexState(base, id, from, to, createdAt)
  if from then
    redis.call('ZREM', base .. 'jx:s:' .. from, id)
  end
  redis.call('ZADD', base .. 'jx:s:' .. to, createdAt, id)
end

-- Adds a job to a named index (t:<task>, l:<k=v>, a:<agent>). `known`: names this script already
-- registered in jx:sets (a batch of ten thousand jobs shares a handful of names), or nil.
local function indexJob(base, name, id, createdAt, known)
  redis.call('ZADD', base .. 'jx:' .. name, createdAt, id)
  if not (known and known[name]) then
    redis.call('SADD', base .. 'jx:sets', name)
    if known then
      known[name] = true
    end
  end
end

local function countStat(base, now, field, by)
  local key = base .. 'stats:' .. math.floor(now / 60000)
  redis.call('HINCRBY', key, field, by or 1)
  redis.call('EXPIRE', key, STATS_TTL_SEC)
end
