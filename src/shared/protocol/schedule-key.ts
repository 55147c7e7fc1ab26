// The idempotency key of a scheduled run: `sched:<agentId>:<schedule>:<fire time ISO>`. The agent builds
// it (the same fire always maps to the same job); the controller reads the schedule's name back from it,
// so a run's outcome is filed under its schedule for the monitor and /metrics.

/** Schedule names (config) and agent ids share this alphabet, neither holds ':'. */
const SCHEDULE_KEY = /^sched:([A-Za-z0-9_.-]{1,128}):([A-Za-z0-9_.-]{1,64}):(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)$/;

export function scheduleKey(agentId: string, name: string, at: Date): string {
  return `sched:${agentId}:${name}:${at.toISOString()}`;
}

/** The schedule a key names, when it is a scheduled run's key of `agentId`; undefined otherwise. */
export function parseScheduleKey(key: string, agentId: string): { schedule: string; fireTime: string } | undefined {
  const m = SCHEDULE_KEY.exec(key);
  if (!m || m[1] !== agentId) return undefined;
  return { schedule: m[2]!, fireTime: m[3]! };
}
