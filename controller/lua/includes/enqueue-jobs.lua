-- Queues one job or a whole batch (the body of enqueue-4.lua, shared with enqueue-claim-8.lua; see
-- enqueue-4.lua for the arguments). Returns the jobs as enqueue-4.lua answers them and how many were
-- created; announcing them on the wake channel is the caller's.
--- @include "clock"
--- @include "job-events"
local BATCH_EVENTS_MAX = 100
local function enqueueJobs(base, seqKey, selectorsKey, recentKey, a, now)
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
      local score = (100 - job.priority) * 1e12 + redis.call('INCR', seqKey)
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
        redis.call('SADD', selectorsKey, sel)
      end
      redis.call('ZADD', recentKey, now, id)
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
    countStat(base, now, 'submitted', created)
    if #a.jobs > BATCH_EVENTS_MAX then
      emitEvent(base, {type = 'batch', created = created})
    end
  end
  return out, created
end
