// The alert state machine, round by round: N failures, reminders, recovery, flapping, forgotten checks.
import { describe, expect, it } from 'vitest';
import { emptyAlertState, evaluate, type AlertEvent, type AlertPolicy, type AlertState } from '../../src/monitor/alerts/alert-engine.js';
import { renderAlertMail } from '../../src/monitor/alerts/alert-mail.js';
import { newerAlertState, parseAlertState } from '../../src/monitor/alerts/alert-state-store.js';

const policy: AlertPolicy = { afterFailures: 3, recoverAfter: 2, repeatMs: 100_000, flapIncidents: 3, flapWindowMs: 100_000 };

/** Runs rounds of one check ('F' fails, 'O' passes), 10 s apart, and returns every event. */
function run(pattern: string, p = policy, start: AlertState = emptyAlertState(), t0 = 1_000_000) {
  let state = start;
  const events: (AlertEvent & { round: number })[] = [];
  [...pattern].forEach((c, i) => {
    const r = evaluate(state, [{ name: 'agent', ok: c === 'O', detail: c === 'O' ? 'ok' : 'connection refused' }], t0 + i * 10_000, p);
    state = r.state;
    events.push(...r.events.map((e) => ({ ...e, round: i })));
  });
  return { state, events, kinds: events.map((e) => `${e.kind}@${e.round}`) };
}

describe('alert engine', () => {
  it('fires once after N failures in a row, then stays quiet', () => {
    const { kinds, state } = run('FFFFFF');
    expect(kinds).toEqual(['firing@2']);
    expect(state.checks.agent!.status).toBe('alerting');
  });

  it('does not fire when failures are not consecutive', () => {
    expect(run('FFOFFOFF').kinds).toEqual([]);
  });

  it('reminds every repeat interval while the incident lasts', () => {
    // 10 s rounds, 100 s repeat: fired at round 2, reminded at rounds 12 and 22
    expect(run('F'.repeat(25)).kinds).toEqual(['firing@2', 'reminder@12', 'reminder@22']);
  });

  it('recovers after M successes in a row, not on a single one', () => {
    expect(run('FFFOFOFOO').kinds).toEqual(['firing@2', 'resolved@8']);
    const ev = run('FFFOO').events.at(-1)!;
    expect(ev.since).toBe(1_000_000);
  });

  it('a flapping check costs a bounded number of mails', () => {
    // fail 3, pass 2, repeated 20 times within the repeat window of 10 min
    const p = { ...policy, repeatMs: 600_000, flapWindowMs: 600_000 };
    const { kinds, state } = run('FFFOO'.repeat(20), p);
    // two normal incidents, then the third is marked flapping and stays open: one reminder per 60 rounds
    expect(kinds).toEqual(['firing@2', 'resolved@4', 'firing@7', 'resolved@9', 'firing@12', 'reminder@72']);
    const s = state.checks.agent!;
    expect(s.status === 'alerting' && s.flapping).toBe(true);
  });

  it('a flapping incident ends after a whole repeat interval of passing', () => {
    const p = { ...policy, repeatMs: 200_000, flapWindowMs: 200_000 };
    const { kinds } = run('FFFOOFFFOOFFF' + 'O'.repeat(25), p);
    // passing from round 13: 2 successes would do for a normal incident, this one needs 200 s (round 33)
    expect(kinds).toEqual(['firing@2', 'resolved@4', 'firing@7', 'resolved@9', 'firing@12', 'resolved@33']);
  });

  it('resumes an incident from saved state without firing again', () => {
    const first = run('FFFF');
    const saved = parseAlertState(JSON.parse(JSON.stringify(first.state)))!;
    const again = run('FFOO', policy, saved, 1_040_000);
    expect(again.kinds).toEqual(['resolved@3']);
  });

  it('resolves an open incident of a check that is no longer run', () => {
    const { state } = run('FFF');
    const r = evaluate(state, [], 2_000_000, policy);
    expect(r.events.map((e) => [e.kind, e.check])).toEqual([['resolved', 'agent']]);
    expect(r.state.checks).toEqual({});
  });

  it('changes updatedAt only when the state changes, and the newer copy wins', () => {
    const a = evaluate(emptyAlertState(), [{ name: 'x', ok: true, detail: '' }], 5, policy);
    expect(a.changed).toBe(true);
    const b = evaluate(a.state, [{ name: 'x', ok: true, detail: '' }], 9, policy);
    expect(b.changed).toBe(false);
    expect(b.state.updatedAt).toBe(5);
    const newer = { updatedAt: 7, checks: {} };
    expect(newerAlertState(a.state, newer)).toBe(newer);
    expect(newerAlertState(null, a.state)).toBe(a.state);
    expect(parseAlertState({ updatedAt: 'x' })).toBeNull();
  });

  it('renders grouped events into one subject', () => {
    const ev = (kind: AlertEvent['kind'], check: string): AlertEvent => ({ kind, check, since: 0, at: 60_000, detail: 'boom', flapping: false });
    const m = renderAlertMail('h1', [ev('firing', 'agent'), ev('firing', 'disk:/'), ev('resolved', 'cpu')]);
    expect(m.subject).toBe('[httpagent] h1: FAILING agent, disk:/; RECOVERED cpu');
    expect(m.text).toContain('disk:/: boom');
  });
});
