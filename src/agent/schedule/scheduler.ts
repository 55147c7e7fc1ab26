// Scheduled tasks: at each fire time of a schedule (croner computes them), queue the task as a job
// for this agent through the controller, keyed by agent + schedule + fire time so it is never doubled.
import { Cron } from 'croner';
import type { AgentConfig, Schedule } from '../../shared/config/agent-config.js';
import type { Logger } from '../../shared/log.js';
import { FINAL_STATES, type JobState, type JobSubmit } from '../../shared/protocol/job.js';
import { scheduleKey } from '../../shared/protocol/schedule-key.js';
import { readScheduleState, scheduleStatePath, writeScheduleState, type ScheduleEntry, type ScheduleStateData } from './schedule-state.js';

export interface SchedulerDeps {
  logger: Logger;
  /** Queues a job for this agent (run-agent: `agent.submitJob`, POST /v1/agent/jobs with the agent's credential). */
  submitJob(job: JobSubmit): Promise<{ id: string; state: string }>;
  /** A job's current state (GET /v1/agent/jobs/:id); rejects with code JOB_NOT_FOUND once it expired. */
  getJob(id: string): Promise<{ state: string }>;
  now?: () => number;
}

/** queued: a job was submitted (or found by its key) · busy: the previous run still runs · failed: the controller did not take it. */
export type FireOutcome = { kind: 'queued'; jobId: string; key: string } | { kind: 'busy'; previousJobId: string } | { kind: 'failed'; code: string };

export interface Scheduler {
  /** Runs at most one catch-up per schedule, then arms the timers. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Handles one fire time of a schedule (what the timer does). */
  fire(name: string, at: Date): Promise<FireOutcome>;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/** A coded 4xx other than timeout and rate limit: the controller looked at the job and queued nothing. */
function refused(err: unknown): boolean {
  const status = (err as { statusCode?: number }).statusCode;
  return status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
}

export function createScheduler(config: AgentConfig, deps: SchedulerDeps): Scheduler {
  const log = deps.logger.child({ component: 'scheduler' });
  const now = deps.now ?? Date.now;
  const file = scheduleStatePath(config.stateDir);
  const byName = new Map<string, { schedule: Schedule; cron: Cron }>();
  for (const s of config.schedules) {
    // paused: croner only computes fire times; our own timer fires them with the exact instant,
    // which the idempotency key needs (a callback's wall clock may be a few ms late).
    try {
      byName.set(s.name, { schedule: s, cron: new Cron(s.cron, { paused: true, ...(s.timezone ? { timezone: s.timezone } : {}) }) });
    } catch (err) {
      // One bad pattern must not take the agent down; `agent --self-test` reports it as a failure.
      log.error({ schedule: s.name, cron: s.cron, timezone: s.timezone, reason: (err as Error).message }, 'schedule skipped: invalid cron pattern or time zone');
    }
  }
  const timers = new Map<string, NodeJS.Timeout>();
  const firing = new Map<string, Promise<FireOutcome>>();
  let state: ScheduleStateData = readScheduleState(file);
  let stopped = false;

  /** Writes one schedule's entry (undefined: forget it), keeping the others as the file has them. */
  function record(name: string, entry: ScheduleEntry | undefined): void {
    const { [name]: _old, ...others } = readScheduleState(file);
    state = entry ? { ...others, [name]: entry } : others;
    writeScheduleState(file, state);
  }

  /** The entry as it was before a fire was written down as pending. */
  function withoutPending(entry: ScheduleEntry | undefined): ScheduleEntry | undefined {
    if (!entry) return undefined;
    const { pending: _p, ...rest } = entry;
    return rest;
  }

  function submitRun(schedule: Schedule, at: Date): Promise<{ id: string; state: string }> {
    return deps.submitJob({
      task: schedule.task,
      params: schedule.params,
      agent: config.agentId,
      idempotencyKey: scheduleKey(config.agentId, schedule.name, at),
      ...(schedule.timeoutSec ? { timeoutSec: schedule.timeoutSec } : {}),
    });
  }

  /**
   * A fire whose submit left no reply (the agent died, or the reply was lost) may have queued a job
   * this scheduler does not know: submitting its key again returns that job (or queues the run the fire
   * meant to queue), so the overlap check below waits for it. Fails only while the controller cannot answer.
   */
  async function settlePending(schedule: Schedule, pending: string, slog: Logger): Promise<FireOutcome | undefined> {
    try {
      const reply = await submitRun(schedule, new Date(pending));
      record(schedule.name, { lastFire: pending, jobId: reply.id });
      slog.info({ pendingFire: pending, jobId: reply.id }, 'unconfirmed earlier fire settled');
      return undefined;
    } catch (err) {
      const { code = 'UNKNOWN' } = err as { code?: string };
      if (refused(err)) {
        // The controller said no to that run: nothing was queued, the way is clear.
        record(schedule.name, withoutPending(state[schedule.name]));
        return undefined;
      }
      slog.warn({ code, pendingFire: pending }, 'cannot settle an unconfirmed earlier fire; skipping this fire');
      return { kind: 'failed', code };
    }
  }

  async function doFire(entry: { schedule: Schedule }, at: Date): Promise<FireOutcome> {
    const { schedule } = entry;
    const key = scheduleKey(config.agentId, schedule.name, at);
    const slog = log.child({ schedule: schedule.name, fireTime: at.toISOString() });
    const pending = state[schedule.name]?.pending;
    if (pending) {
      const stop = await settlePending(schedule, pending, slog);
      if (stop) return stop;
    }
    const prev = state[schedule.name]?.jobId;
    if (prev) {
      // Never overlap: the previous run of this schedule must be over before the next is queued.
      try {
        const job = await deps.getJob(prev);
        if (!FINAL_STATES.includes(job.state as JobState)) {
          slog.warn({ previousJobId: prev, state: job.state }, 'previous run still in progress; skipping this fire');
          return { kind: 'busy', previousJobId: prev };
        }
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code !== 'JOB_NOT_FOUND') {
          slog.warn({ code, previousJobId: prev }, 'cannot read the previous run; skipping this fire');
          return { kind: 'failed', code: code ?? 'UNKNOWN' };
        }
        // Expired at the controller: it finished long ago.
      }
    }
    // Written down before the submit: a crash between the controller's reply and the record below
    // would otherwise leave a queued run this scheduler does not wait for.
    const before = state[schedule.name];
    record(schedule.name, { lastFire: before?.lastFire ?? at.toISOString(), ...(prev ? { jobId: prev } : {}), pending: at.toISOString() });
    try {
      const reply = await submitRun(schedule, at);
      record(schedule.name, { lastFire: at.toISOString(), jobId: reply.id });
      slog.info({ jobId: reply.id, key }, 'scheduled run queued');
      return { kind: 'queued', jobId: reply.id, key };
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'UNKNOWN';
      // A refusal queued nothing; anything else may have, so the pending fire stays to be settled.
      if (refused(err)) record(schedule.name, before);
      slog.error({ code, err }, 'scheduled run not queued');
      return { kind: 'failed', code };
    }
  }

  function fire(name: string, at: Date): Promise<FireOutcome> {
    const entry = byName.get(name);
    if (!entry) return Promise.resolve({ kind: 'failed', code: 'UNKNOWN_SCHEDULE' });
    // One fire per schedule at a time inside this process, too (a slow controller call must not overlap).
    const busy = firing.get(name);
    if (busy) return busy.then(() => ({ kind: 'busy', previousJobId: state[name]?.jobId ?? '' }) as FireOutcome);
    const p = doFire(entry, at).finally(() => firing.delete(name));
    firing.set(name, p);
    return p;
  }

  function arm(name: string, after: Date): void {
    if (stopped) return;
    const entry = byName.get(name)!;
    const next = entry.cron.nextRun(after);
    if (!next) return; // a pattern with no future run (e.g. a past year)
    const wait = next.getTime() - now();
    const t = setTimeout(
      () => {
        if (wait > MAX_TIMER_MS) return arm(name, after); // far away: wake up and measure again
        void fire(name, next).finally(() => arm(name, new Date(Math.max(next.getTime(), now()))));
      },
      Math.max(0, Math.min(wait, MAX_TIMER_MS)),
    );
    timers.set(name, t);
  }

  return {
    async start() {
      const startAt = new Date(now());
      for (const [name, entry] of byName) {
        const last = state[name]?.lastFire;
        const missed = last ? entry.cron.previousRuns(1, startAt)[0] : undefined;
        if (last && missed && missed.getTime() > Date.parse(last)) {
          if (config.scheduleCatchUp) {
            // Only the latest missed fire: runs missed while down are never stacked up.
            log.info({ schedule: name, lastFire: last, catchUp: missed.toISOString() }, 'fire time(s) missed while down; one catch-up run');
            await fire(name, missed);
          } else {
            log.info({ schedule: name, lastFire: last }, 'fire time(s) missed while down; scheduleCatchUp is off');
          }
        }
        arm(name, startAt);
      }
      log.info({ schedules: [...byName.keys()] }, 'scheduler started');
    },
    async stop() {
      stopped = true;
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
      for (const { cron } of byName.values()) cron.stop();
      await Promise.all([...firing.values()]).catch(() => undefined);
    },
    fire,
  };
}
