// Renders a group of alert events into one mail: a subject that says what changed, a plain-text body.
import type { MailMessage } from '../../shared/mailer.js';
import type { AlertEvent } from './alert-engine.js';

export type AlertMail = MailMessage;

const iso = (ms: number): string => new Date(ms).toISOString();

function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${(s / 3600).toFixed(1)}h`;
}

export function renderAlertMail(host: string, events: readonly AlertEvent[]): AlertMail {
  const by = (k: AlertEvent['kind']) => events.filter((e) => e.kind === k);
  const firing = by('firing');
  const reminders = by('reminder');
  const resolved = by('resolved');
  const parts: string[] = [];
  if (firing.length) parts.push(`FAILING ${firing.map((e) => e.check).join(', ')}`);
  if (reminders.length) parts.push(`STILL FAILING ${reminders.map((e) => e.check).join(', ')}`);
  if (resolved.length) parts.push(`RECOVERED ${resolved.map((e) => e.check).join(', ')}`);
  const subject = `[httpagent] ${host}: ${parts.join('; ')}`;

  const lines: string[] = [`Host: ${host}`, ''];
  const section = (title: string, list: AlertEvent[], fmt: (e: AlertEvent) => string) => {
    if (!list.length) return;
    lines.push(title);
    for (const e of list) lines.push(`  - ${e.check}: ${fmt(e)}`);
    lines.push('');
  };
  const flap = (e: AlertEvent) => (e.flapping ? ' (flapping: it stays open until the check has been stable for a whole repeat interval)' : '');
  section('Failing:', firing, (e) => `${e.detail} (failing since ${iso(e.since)})${flap(e)}`);
  section('Still failing:', reminders, (e) => `${e.detail} (for ${duration(e.at - e.since)}, since ${iso(e.since)})${flap(e)}`);
  section('Recovered:', resolved, (e) => `after ${duration(e.at - e.since)} (${e.detail || 'ok'})`);
  lines.push(`Sent by the httpagent monitor at ${iso(Math.max(...events.map((e) => e.at)))}.`);
  return { subject, text: lines.join('\n') + '\n' };
}
