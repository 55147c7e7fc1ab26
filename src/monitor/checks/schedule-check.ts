// One check per schedule of the agent, `schedule:<name>`, on its last finished run as the controller
// filed it: a failed run opens one incident for the schedule (the alert engine then reminds, never
// repeats), the next successful run ends it. The controller is the witness, not the agent's log: a run
// that died with its host still ends failed there once its lease expires.
import type { ScheduleRun } from '../../shared/protocol/monitor-api.js';
import type { Observation } from '../alerts/alert-engine.js';

export const scheduleCheckName = (schedule: string): string => `schedule:${schedule}`;

export interface ScheduleCheck {
  /** This round's observations; `fetch` failing (controller away) repeats the last ones known. */
  run(): Promise<Observation[]>;
  /** The last observations known, without asking (the controller is known to be away). */
  known(): Observation[];
}

/**
 * `names`: the schedules in the agent's config (a schedule removed from it stops being checked, so its
 * incident resolves). A schedule with no finished run yet is not observed.
 */
export function createScheduleCheck(names: readonly string[], fetch: () => Promise<ScheduleRun[]>): ScheduleCheck {
  // Kept between rounds: the engine forgets (and resolves) a check missing from a round, so an outage of
  // the controller must not look like every failing schedule recovering.
  const last = new Map<string, Observation>();
  return {
    async run() {
      if (names.length === 0) return [];
      let runs: ScheduleRun[];
      try {
        runs = await fetch();
      } catch {
        return [...last.values()];
      }
      const byName = new Map(runs.map((r) => [r.schedule, r]));
      for (const name of names) {
        const r = byName.get(name);
        const known = last.get(name);
        if (!r) continue;
        // A cancelled run says nothing about the task: the schedule keeps the verdict of its last real run.
        if (r.state === 'cancelled' && known) continue;
        last.set(name, scheduleObservation(r));
      }
      return [...last.values()];
    },
    known: () => [...last.values()],
  };
}

export function scheduleObservation(r: ScheduleRun): Observation {
  const at = new Date(r.finishedAt).toISOString();
  return {
    name: scheduleCheckName(r.schedule),
    ok: r.state !== 'failed',
    // The job id says where the whole story is: its log at the controller.
    detail: r.state === 'failed' ? `run ${r.jobId} failed at ${at}${r.error ? `: ${r.error}` : ''} (httpagent job logs ${r.jobId})` : `run ${r.jobId} ${r.state} at ${at}`,
    afterFailures: 1,
    recoverAfter: 1,
  };
}
