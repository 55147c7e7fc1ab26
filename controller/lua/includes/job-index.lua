-- The job indexes GET /v1/jobs pages through (controller/src/job-list.ts): sorted sets of job ids by
-- createdAt under base .. 'jx:'. One per state (jx:s:<state>), moved whenever a job changes state, and
-- one per name (jx:<name>: t:<task>, l:<k>=<v>, a:<agent>) joined at enqueue (and a:<agent> at claim).
-- Named indexes are listed in jx:sets so the sweeper (reap-4.lua) trims them like the recent index.
local function indexState(base, id, from, to, createdAt)
  if from and from ~= to then
    redis.call('ZREM', base .. 'jx:s:' .. from, id)
  end
  redis.call('ZADD', base .. 'jx:s:' .. to, createdAt, id)
end

local function indexJob(base, name, id, createdAt)
  redis.call('ZADD', base .. 'jx:' .. name, createdAt, id)
  redis.call('SADD', base .. 'jx:sets', name)
end
