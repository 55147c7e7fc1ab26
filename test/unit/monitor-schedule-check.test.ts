// The schedule check: a failed run opens one incident at once and the next success ends it; while the
// controller is away, or a run was cancelled, each schedule keeps its last verdict.
import { describe, expect, it } from 'vitest';
import { emptyAlertState, evaluate, type AlertPolicy, type AlertState } from '../../src/monitor/alerts/alert-engine.js';
import { createScheduleCheck } from '../../src/monitor/checks/schedule-check.js';
import type { ScheduleRun } from '../../src/shared/protocol/monitor-api.js';

const policy: AlertPolicy = { afterFailures: 3, recoverAfter: 2, repeatMs: 100_000, flapIncidents: 3, flapWindowMs: 100_000 };
const run = (schedule: string, jobId: string, state: ScheduleRun['state']): ScheduleRun => ({ schedule, jobId, state, finishedAt: 1_000, error: state === 'failed' ? 'exit 1' : '' });

/** Feeds the check's rounds (each: the controller's reply, or 'away') through the alert engine. */
async function rounds(names: string[], replies: Array<ScheduleRun[] | 'away'>) {
  let reply: ScheduleRun[] | 'away' = [];
  const check = createScheduleCheck(names, async () => {
    if (reply === 'away') throw new Error('ECONNREFUSED');
    return reply;
  });
  let state: AlertState = emptyAlertState();
  const events: string[] = [];
  for (const [i, r] of replies.entries()) {
    reply = r;
    const e = evaluate(state, await check.run(), 1_000_000 + i * 10_000, policy);
    state = e.state;
    events.push(...e.events.map((x) => `${x.kind} ${x.check}@${i}`));
  }
  return events;
}

describe('schedule check', () => {
  it('opens on the first failed run, stays one incident over more failures, ends on the next success', async () => {
    const events = await rounds(['upload'], [[run('upload', 'j1', 'failed')], [run('upload', 'j1', 'failed')], [run('upload', 'j2', 'failed')], [run('upload', 'j3', 'succeeded')]]);
    expect(events).toEqual(['firing schedule:upload@0', 'resolved schedule:upload@3']);
  });

  it('keeps the verdict while the controller is away and over a cancelled run', async () => {
    const failed = [run('upload', 'j1', 'failed')];
    const events = await rounds(['upload'], [failed, 'away', 'away', [run('upload', 'j2', 'cancelled')], failed]);
    expect(events).toEqual(['firing schedule:upload@0']);
  });

  it('checks only the configured schedules, and none that has not finished a run', async () => {
    const check = createScheduleCheck(['upload', 'backup'], async () => [run('upload', 'j1', 'succeeded'), run('removed', 'j0', 'failed')]);
    expect((await check.run()).map((o) => [o.name, o.ok])).toEqual([['schedule:upload', true]]);
    expect(await createScheduleCheck([], async () => { throw new Error('never asked'); }).run()).toEqual([]);
  });
});
