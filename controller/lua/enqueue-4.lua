--[[
  Enqueues one job or a whole batch atomically (the caller validated everything first, so the script
  cannot stop half way), and announces the new work on the wake channel and the event stream.

  KEYS[1] base       prefix {<prefix>}: — job:<id>, idem:<key>, the queues q:any, q:agent:<id>,
                     q:sel:<selector>, the job indexes (jx:s:<state>, jx:<name>, jx:sets;
                     includes/job-index.lua), events and stats:<minute> are built from it (same hash tag,
                     same slot)
  KEYS[2] seq        counter giving FIFO order within a priority
  KEYS[3] selectors  SET of label selectors that have a queue
  KEYS[4] recent     ZSET job id -> createdAt, for listing recent jobs

  ARGV[1] {wakeChannel: string, wakeMessage: string,
           jobs: [{id: string, idem?: string, queue: string, selector?: string, wake: string, priority: int,
                   maxAttempts: int, timeoutSec?: int, steps: json, stepCount: int, target: json,
                   tasks: string, indexes: [string], schedule?: {agentId: string, name: string}}]}
          idem: the idempotency key · queue: the queue key after the prefix (q:any | q:agent:<id> |
          q:sel:<selector>) · selector: for q:sel: queues · wake: the target its wake-up names
          · steps, target: stored as given (JSON text) · tasks: its distinct tasks, comma-joined (for
          the failure counters) · indexes: the named job indexes it joins (t:<task>, l:<k>=<v>,
          a:<agent>) besides its state's · schedule: the agent's schedule this job is a run of
          (includes/finish-job.lua files its outcome under it)

  Returns {jobs: [{id: string, state: string, created: bool}]}
          in the order given; created false: the job already held for that idempotency key
]]
--- @include "clock"
--- @include "job-events"

local BATCH_EVENTS_MAX = 100
local a = cjson.decode(ARGV[1])
local base = KEYS[1]
local now = nowMs()
local out = {}
local created = 0
for i, job in ipairs(a.jobs) do
  local id, idem = job.id, job.idem or ''
  local existing = false
  if idem ~= '' then
    existing = redis.call('GET', base .. 'idem:' .. idem)
    if not existing then
      redis.call('SET', base .. 'idem:' .. idem, id)
    end
  end
  if existing then
    out[i] = {id = existing, state = redis.call('HGET', base .. 'job:' .. existing, 'state') or 'queued', created = false}
  else
    local sel = job.selector or ''
    local score = (100 - job.priority) * 1e12 + redis.call('INCR', KEYS[2])
    redis.call('HSET', base .. 'job:' .. id,
      'state', 'queued', 'attempt', 0, 'epoch', 0, 'doneEpoch', 0,
      'priority', job.priority, 'maxAttempts', job.maxAttempts, 'timeoutSec', job.timeoutSec or '',
      'nsteps', job.stepCount, 'steps', job.steps, 'target', job.target,
      'q', job.queue, 'sel', sel, 'wake', job.wake, 'score', fmt(score), 'idem', idem,
      'createdAt', now, 'queuedAt', now, 'logBytes', 0, 'logKept', 0, 'logBase', 0, 'tasks', job.tasks)
    if job.schedule then
      redis.call('HSET', base .. 'job:' .. id, 'sched', job.schedule.name, 'schedAgent', job.schedule.agentId)
    end
    redis.call('ZADD', base .. job.queue, fmt(score), id)
    if sel ~= '' then
      redis.call('SADD', KEYS[3], sel)
    end
    redis.call('ZADD', KEYS[4], now, id)
    indexState(base, id, nil, 'queued', now)
    for _, name in ipairs(job.indexes) do
      indexJob(base, name, id, now)
    end
    out[i] = {id = id, state = 'queued', created = true}
    created = created + 1
    -- A big batch is announced once (below): ten thousand events would push every page's history out.
    if #a.jobs <= BATCH_EVENTS_MAX then
      emitEvent(base, {type = 'job', id = id, state = 'queued'})
    end
  end
end
if created > 0 then
  redis.call('PUBLISH', a.wakeChannel, a.wakeMessage)
  countStat(base, now, 'submitted', created)
  if #a.jobs > BATCH_EVENTS_MAX then
    emitEvent(base, {type = 'batch', created = created})
  end
end
return cjson.encode({jobs = out})
