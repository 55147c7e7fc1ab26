// The alert state machine: pure, so every rule (N failures, reminders, recovery, flapping) is testable
// without clocks or mail. The monitor feeds it one round of check results at a time.
import { z } from 'zod';

const incidents = z.array(z.number().int()).max(100).default([]);
const detail = z.string().default('');

/**
 * Per check:
 * - ok: passing (or never seen); `incidents` holds the opening times of recent incidents for flap detection.
 * - failing: failed `count` times in a row since `since`, fewer than needed to alert; nobody was told.
 * - alerting: an open incident that was mailed; `okCount` successes in a row so far toward recovery.
 */
export const checkAlertStateSchema = z.discriminatedUnion('status', [
  z.object({ status: z.literal('ok'), incidents }),
  z.object({ status: z.literal('failing'), count: z.number().int().min(1), since: z.number().int(), detail, incidents }),
  z.object({
    status: z.literal('alerting'),
    since: z.number().int(),
    lastNotifiedAt: z.number().int(),
    okCount: z.number().int().min(0),
    /** When the current run of successes began (recovery of a flapping check needs a stable stretch). */
    okSince: z.number().int().nullable().default(null),
    flapping: z.boolean().default(false),
    detail,
    incidents,
  }),
]);
export type CheckAlertState = z.infer<typeof checkAlertStateSchema>;

export const alertStateSchema = z.object({
  /** ms since the epoch of the last change: on start the newer of the local and controller copies wins. */
  updatedAt: z.number().int(),
  checks: z.record(z.string(), checkAlertStateSchema),
});
export type AlertState = z.infer<typeof alertStateSchema>;

export const emptyAlertState = (): AlertState => ({ updatedAt: 0, checks: {} });

export interface Observation {
  name: string;
  ok: boolean;
  /** Why it failed (or what it saw): goes into the mail. */
  detail: string;
  /**
   * Overrides of the policy's counts for this check. A check that reports a settled fact rather than
   * probing (a scheduled run failed; the job already had its attempts) opens on the first failure and
   * ends on the first success.
   */
  afterFailures?: number;
  recoverAfter?: number;
}

export type AlertEventKind = 'firing' | 'reminder' | 'resolved';

export interface AlertEvent {
  kind: AlertEventKind;
  check: string;
  /** When the incident began (its first failure). */
  since: number;
  at: number;
  detail: string;
  /** Set on firing/reminder of a check that keeps opening incidents. */
  flapping: boolean;
}

export interface AlertPolicy {
  /** Failures in a row before an incident opens (and a mail goes). */
  afterFailures: number;
  /** Successes in a row before an open incident ends. */
  recoverAfter: number;
  repeatMs: number;
  /**
   * The n-th incident of one check within flapWindowMs marks it flapping: that incident then stays open
   * until the check has passed for a whole repeatMs, so a check that flips every few minutes costs a
   * handful of mails, then one reminder per repeat interval, instead of two mails per flip.
   */
  flapIncidents: number;
  flapWindowMs: number;
}

export interface Evaluation {
  state: AlertState;
  events: AlertEvent[];
  changed: boolean;
}

/**
 * One round: every check that ran this round is in `observations`. A check held in state that no longer
 * runs (removed from config) is forgotten; if it had an open incident, that incident is resolved.
 */
export function evaluate(prev: AlertState, observations: readonly Observation[], now: number, policy: AlertPolicy): Evaluation {
  const checks: Record<string, CheckAlertState> = {};
  const events: AlertEvent[] = [];
  const seen = new Set<string>();
  for (const o of observations) {
    if (seen.has(o.name)) continue;
    seen.add(o.name);
    const before = prev.checks[o.name] ?? { status: 'ok', incidents: [] };
    // Details are bounded so the saved state stays small whatever a check prints.
    const { next, event } = step(before, { ...o, detail: o.detail.slice(0, 500) }, now, policy);
    checks[o.name] = next;
    if (event) events.push(event);
  }
  for (const [name, s] of Object.entries(prev.checks)) {
    if (seen.has(name)) continue;
    if (s.status === 'alerting') {
      events.push({ kind: 'resolved', check: name, since: s.since, at: now, detail: 'no longer checked', flapping: false });
    }
  }
  const changed = JSON.stringify(checks) !== JSON.stringify(prev.checks);
  return { state: { updatedAt: changed ? now : prev.updatedAt, checks }, events, changed };
}

function step(s: CheckAlertState, o: Observation, now: number, policy: AlertPolicy): { next: CheckAlertState; event?: AlertEvent } {
  const p = { ...policy, afterFailures: o.afterFailures ?? policy.afterFailures, recoverAfter: o.recoverAfter ?? policy.recoverAfter };
  const recent = s.incidents.filter((t) => now - t < p.flapWindowMs);
  if (!o.ok) {
    if (s.status === 'alerting') {
      const due = now - s.lastNotifiedAt >= p.repeatMs;
      const next: CheckAlertState = { ...s, okCount: 0, okSince: null, detail: o.detail, incidents: recent, lastNotifiedAt: due ? now : s.lastNotifiedAt };
      return due ? { next, event: { kind: 'reminder', check: o.name, since: s.since, at: now, detail: o.detail, flapping: s.flapping } } : { next };
    }
    const count = s.status === 'failing' ? s.count + 1 : 1;
    const since = s.status === 'failing' ? s.since : now;
    if (count < p.afterFailures) return { next: { status: 'failing', count, since, detail: o.detail, incidents: recent } };
    const flapping = recent.length + 1 >= p.flapIncidents;
    return {
      next: { status: 'alerting', since, lastNotifiedAt: now, okCount: 0, okSince: null, flapping, detail: o.detail, incidents: [...recent, now].slice(-20) },
      event: { kind: 'firing', check: o.name, since, at: now, detail: o.detail, flapping },
    };
  }
  if (s.status !== 'alerting') return { next: { status: 'ok', incidents: recent } };
  const okCount = s.okCount + 1;
  const okSince = s.okSince ?? now;
  const stable = okCount >= p.recoverAfter && (!s.flapping || now - okSince >= p.repeatMs);
  if (!stable) return { next: { ...s, okCount, okSince, incidents: recent } };
  return {
    next: { status: 'ok', incidents: recent },
    event: { kind: 'resolved', check: o.name, since: s.since, at: now, detail: o.detail, flapping: false },
  };
}

/** Names of the checks with an open incident, for the heartbeat summary and logs. */
export function openIncidents(state: AlertState): string[] {
  return Object.entries(state.checks)
    .filter(([, s]) => s.status === 'alerting')
    .map(([n]) => n);
}
