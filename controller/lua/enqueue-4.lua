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
--- @include "enqueue-jobs"

local a = cjson.decode(ARGV[1])
local out, created = enqueueJobs(KEYS[1], KEYS[2], KEYS[3], KEYS[4], a, nowMs())
if created > 0 then
  redis.call('PUBLISH', a.wakeChannel, a.wakeMessage)
end
return cjson.encode({jobs = out})
