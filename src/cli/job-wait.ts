// `job submit --wait`: follows a job to its end, showing progress on stderr (step n of m, elapsed,
// the log tail) as one updating line on a terminal and as plain lines otherwise.
import type { PlatformJobsResource } from '../shared/client/platform-jobs.js';
import { RETRY } from '../shared/retry-policy.js';
import { sleep, withRetry } from '../shared/retry.js';
import { FINAL_STATES, type JobView } from '../shared/protocol/job.js';
import { formatDuration } from './cli-context.js';

export interface WaitOptions {
  platform: PlatformJobsResource;
  id: string;
  out: NodeJS.WriteStream;
  pollMs?: number;
}

function stepLine(job: JobView): string {
  const total = job.steps.length;
  const idx = job.steps.findIndex((s) => s.state === 'running');
  const done = job.steps.filter((s) => s.state !== 'pending' && s.state !== 'running').length;
  const n = idx >= 0 ? idx + 1 : Math.min(done + (job.state === 'running' ? 1 : 0), total);
  const task = job.steps[Math.max(0, n - 1)]?.task ?? '';
  const since = Date.parse(job.startedAt ?? job.createdAt);
  const until = job.finishedAt ? Date.parse(job.finishedAt) : Date.now();
  const elapsed = Number.isFinite(since) ? formatDuration(Math.max(0, until - since)) : '';
  if (job.state === 'queued') return `job ${job.id}: queued${job.attempt > 0 ? ` (attempt ${job.attempt + 1})` : ''}`;
  return `job ${job.id}: ${job.state} · step ${n}/${total} ${task} · ${elapsed}${job.agent ? ` · on ${job.agent}` : ''}`;
}

/** Polls until the job is final; returns its last view. */
export async function waitForJob(opts: WaitOptions): Promise<JobView> {
  const tty = opts.out.isTTY === true;
  let offset = 0;
  let partial = '';
  let lastLine = '';
  let lastStatus = '';
  for (;;) {
    // A controller restart while we watch is not the job's end: ride it out (honouring Retry-After).
    const job = await withRetry(() => opts.platform.get(opts.id), RETRY.cliWait);
    const slice = await withRetry(() => opts.platform.log(opts.id, offset), RETRY.cliWait);
    offset = slice.nextOffset;
    const text = partial + slice.bytes.toString('utf8');
    const lines = text.split('\n');
    partial = lines.pop() ?? '';
    const final = (FINAL_STATES as readonly string[]).includes(job.state);
    if (final && partial) lines.push(partial);
    const status = stepLine(job);
    if (tty) {
      for (const l of lines) if (l.trim()) lastLine = l;
      const width = Math.max(40, (opts.out.columns ?? 100) - 1);
      const line = `${status}${lastLine ? ` │ ${lastLine}` : ''}`;
      opts.out.write(`\r\x1b[2K${line.slice(0, width)}`);
      if (final) opts.out.write('\n');
    } else {
      if (status !== lastStatus) opts.out.write(`${status}\n`);
      for (const l of lines) opts.out.write(`  | ${l}\n`);
    }
    lastStatus = status;
    if (final) return job;
    // Bytes still coming: read again at once; otherwise poll.
    if (slice.bytes.length === 0) await sleep(opts.pollMs ?? 300);
  }
}
