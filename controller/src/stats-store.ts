// The Overview page's figures: per-minute counters the scripts keep (includes/job-events.lua countStat),
// the queue depth controllers sample into the same minute (averaged), and the job counts by state.
import { z } from 'zod';
import { JOB_STATES, type JobState } from '../../src/shared/protocol/job.js';
import type { Overview, OverviewMinute } from '../../src/shared/protocol/overview.js';
import type { RedisLike } from './commands.js';
import type { Keys } from './keys.js';

const MINUTE_MS = 60_000;
/** The counters live a day (STATS_TTL_SEC in job-events.lua is 25 h, so the oldest minute is complete). */
const STATS_TTL_SEC = 90_000;

/** A minute's hash: every field a count. */
const minuteSchema = z.record(z.string(), z.coerce.number());

export function createStatsStore(redis: RedisLike, keys: Keys) {
  /** How many jobs each state's index (includes/job-index.lua) holds. */
  const stateCounts = async (): Promise<Record<JobState, number>> => {
    const n = await Promise.all(JOB_STATES.map((s) => redis.zcard(keys.jobsInState(s))));
    return Object.fromEntries(JOB_STATES.map((s, i) => [s, n[i]!])) as Record<JobState, number>;
  };

  /**
   * Adds a sample of the queue depth and running count to the current minute, which the overview averages.
   * Counters rather than a last value: several controllers sample at once without overwriting each other.
   */
  const sampleDepth = async (now: number): Promise<void> => {
    const counts = await stateCounts();
    const key = keys.minuteStats(Math.floor(now / MINUTE_MS));
    await redis
      .multi()
      .hincrby(key, 'depthSamples', 1)
      .hincrby(key, 'queuedSum', counts.queued)
      .hincrby(key, 'runningSum', counts.running)
      .expire(key, STATS_TTL_SEC)
      .exec();
  };

  const overview = async (minutes: number, now: number): Promise<Overview> => {
    const last = Math.floor(now / MINUTE_MS);
    const ids = Array.from({ length: minutes }, (_, i) => last - minutes + 1 + i);
    const [counts, hashes] = await Promise.all([stateCounts(), Promise.all(ids.map((m) => redis.hgetall(keys.minuteStats(m))))]);
    const failuresByTask: Record<string, number> = {};
    const rows: OverviewMinute[] = ids.map((m, i) => {
      const h = minuteSchema.parse(hashes[i]);
      for (const [field, n] of Object.entries(h)) {
        if (field.startsWith('failedTask:')) {
          // A job's tasks are comma-joined: a failure counts once for each of them.
          for (const task of field.slice('failedTask:'.length).split(',')) failuresByTask[task] = (failuresByTask[task] ?? 0) + n;
        }
      }
      return {
        t: m * MINUTE_MS,
        submitted: h.submitted ?? 0,
        picked: h.picked ?? 0,
        pickupMs: h.pickupMs ?? 0,
        done: { succeeded: h['done:succeeded'] ?? 0, failed: h['done:failed'] ?? 0, cancelled: h['done:cancelled'] ?? 0 },
        queued: h.depthSamples ? Math.round((h.queuedSum ?? 0) / h.depthSamples) : null,
        running: h.depthSamples ? Math.round((h.runningSum ?? 0) / h.depthSamples) : null,
      };
    });
    return { now, counts, minutes: rows, failuresByTask };
  };

  return { sampleDepth, overview };
}
export type StatsStore = ReturnType<typeof createStatsStore>;
