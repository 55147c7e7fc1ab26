// A job as text: the detail of `job status` and the table of `job list`.
import type { JobView } from '../shared/protocol/job.js';
import { formatDuration, visible, type Painter } from './terminal.js';

function target(job: JobView): string {
  if (job.target.agent) return `agent=${job.target.agent}`;
  const labels = Object.entries(job.target.labels ?? {}).map(([k, v]) => `${k}=${v}`);
  return labels.length ? labels.join(',') : 'any agent';
}

function took(job: JobView): string {
  if (!job.startedAt) return '';
  const end = job.finishedAt ? Date.parse(job.finishedAt) : Date.now();
  return formatDuration(Math.max(0, end - Date.parse(job.startedAt)));
}

export function renderJob(job: JobView, t: Painter): string {
  const when = (s: string | null) => s ?? '-';
  const lines = [
    `job       ${job.id}`,
    `state     ${t.state(job.state)}${job.cancelRequested && job.state === 'running' ? ' (cancel requested)' : ''}`,
    `target    ${target(job)}`,
    `attempt   ${job.attempt} of ${job.maxAttempts}`,
    `agent     ${job.agent ?? '-'}`,
    `created   ${job.createdAt}`,
    `started   ${when(job.startedAt)}`,
    `finished  ${when(job.finishedAt)}`,
    `log       ${job.logBytes} bytes${job.logTruncated ? ' (truncated)' : ''}`,
  ];
  if (job.retryOf) lines.push(`retry of  ${job.retryOf}`);
  if (job.waiting) lines.push(`waiting   ${job.waiting.message} (${job.waiting.code})`);
  if (job.error) lines.push(`error     ${job.error}`);
  lines.push('steps');
  const w = Math.max(4, ...job.steps.map((s) => s.task.length));
  job.steps.forEach((s, i) => {
    const d = s.startedAt && s.finishedAt ? formatDuration(Date.parse(s.finishedAt) - Date.parse(s.startedAt)) : '';
    const exit = s.exitCode !== null ? `exit ${s.exitCode}` : s.signal ? s.signal : '';
    lines.push(`  ${String(i + 1).padStart(2)}. ${s.task.padEnd(w)}  ${t.state(s.state, s.state.padEnd(9))}  ${exit.padEnd(8)}  ${d}`.trimEnd());
  });
  return `${lines.join('\n')}\n`;
}

function ago(iso: string, now: number): string {
  const ms = now - Date.parse(iso);
  return Number.isFinite(ms) ? `${formatDuration(Math.max(0, ms))} ago` : '-';
}

/** Columns padded by their visible width, so coloured cells line up. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => visible(r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(widths[i]! - visible(c).length))).join('  ').trimEnd()).join('\n');
}

export function renderJobTable(jobs: JobView[], t: Painter, now = Date.now()): string {
  if (jobs.length === 0) return '(no jobs)\n';
  const rows = [['ID', 'STATE', 'STEPS', 'TARGET', 'AGENT', 'CREATED', 'TOOK']];
  for (const j of jobs) {
    const steps = j.steps.map((s) => s.task).join(',');
    rows.push([j.id, t.state(j.state), steps.length > 40 ? `${steps.slice(0, 39)}…` : steps, target(j), j.agent ?? '-', ago(j.createdAt, now), took(j) || '-']);
  }
  return `${table(rows)}\n`;
}
