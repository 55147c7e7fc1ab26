// How a watched job's progress is shown on stderr. On a terminal: one live status line (state, step
// n/m, agent, elapsed) redrawn in place, the job's log streamed above it. Anywhere else (a CI log, a
// pipe): one line when the state, the step, the agent or the waiting reason changes, and the log lines
// as they come; never a repaint, so an hour-long job costs a handful of lines besides its log.
import { FINAL_STATES, type JobView } from '../shared/protocol/job.js';
import { fit, formatDuration, type Terminal } from './terminal.js';

export interface ProgressRenderer {
  /** The job as last read (every poll). */
  job(view: JobView): void;
  /** Log text as it arrives, in any chunking. */
  log(text: string): void;
  /** The final view: the last partial log line and the outcome line go out. */
  done(view: JobView): void;
  /** Stops timers; leaves the terminal on a fresh line. */
  close(): void;
}

/** What changed, for deciding whether a plain line is due: the elapsed time is deliberately not in it. */
export function progressKey(job: JobView): string {
  const { n } = currentStep(job);
  return [job.state, job.attempt, n, job.agent ?? '', job.waiting?.code ?? '', job.cancelRequested].join('|');
}

/** The step running now (1-based), or the last one that ran. */
function currentStep(job: JobView): { n: number; total: number; task: string } {
  const total = job.steps.length;
  const running = job.steps.findIndex((s) => s.state === 'running');
  const started = job.steps.filter((s) => s.state !== 'pending').length;
  const n = running >= 0 ? running + 1 : Math.max(1, Math.min(started, total));
  return { n, total, task: job.steps[n - 1]?.task ?? '' };
}

function elapsedMs(job: JobView, now: number): number | undefined {
  const since = Date.parse(job.startedAt ?? job.createdAt);
  const until = job.finishedAt ? Date.parse(job.finishedAt) : now;
  return Number.isFinite(since) ? Math.max(0, until - since) : undefined;
}

/** `job ID running · step 2/3 deploy · on host-1` (with `· 12.3s` when `now` is given). */
export function describeProgress(job: JobView, t: Terminal, now?: number): string {
  const parts = [`job ${job.id} ${t.state(job.state)}`];
  if (job.state === 'queued') {
    if (job.attempt > 0) parts.push(`attempt ${job.attempt + 1} of ${job.maxAttempts}`);
    if (job.waiting) parts.push(`waiting: ${job.waiting.message} (${job.waiting.code})`);
  } else {
    const { n, total, task } = currentStep(job);
    parts.push(`step ${n}/${total} ${task}`);
    if (job.agent) parts.push(`on ${job.agent}`);
    if (job.attempt > 1) parts.push(`attempt ${job.attempt} of ${job.maxAttempts}`);
    if (job.cancelRequested && job.state === 'running') parts.push('cancel requested');
  }
  const ms = now === undefined ? undefined : elapsedMs(job, now);
  if (ms !== undefined) parts.push(t.dim(formatDuration(ms)));
  return parts.join(' · ');
}

/** `job ID succeeded in 12.3s` / `job ID failed after 3.1s: step 2 deploy exited with 2`. */
export function describeOutcome(job: JobView, t: Terminal): string {
  const ms = elapsedMs(job, Date.now());
  const took = ms === undefined ? '' : job.state === 'succeeded' ? ` in ${formatDuration(ms)}` : ` after ${formatDuration(ms)}`;
  return `job ${job.id} ${t.state(job.state)}${job.startedAt ? took : ''}${job.error ? `: ${job.error}` : ''}`;
}

/** Splits arriving text into whole lines, holding a partial last line until its newline (or the end). */
function lineBuffer() {
  let partial = '';
  return {
    push(text: string): string[] {
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      return lines;
    },
    rest(): string | undefined {
      const r = partial;
      partial = '';
      return r || undefined;
    },
  };
}

/** Off a terminal: a line per change, the log verbatim. */
export function plainRenderer(t: Terminal): ProgressRenderer {
  let lastKey = '';
  const lines = lineBuffer();
  const say = (view: JobView) => {
    const key = progressKey(view);
    if (key === lastKey) return;
    lastKey = key;
    if (!(FINAL_STATES as readonly string[]).includes(view.state)) t.err.write(`${describeProgress(view, t)}\n`);
  };
  return {
    job: say,
    log(text) {
      for (const l of lines.push(text)) t.err.write(`${l}\n`);
    },
    done(view) {
      const rest = lines.rest();
      if (rest !== undefined) t.err.write(`${rest}\n`);
      t.err.write(`${describeOutcome(view, t)}\n`);
    },
    close() {},
  };
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** On a terminal: the log scrolls above one status line redrawn in place (and every second, for the clock). */
export function liveRenderer(t: Terminal, opts: { tickMs?: number; now?: () => number } = {}): ProgressRenderer {
  const now = opts.now ?? Date.now;
  const lines = lineBuffer();
  let view: JobView | undefined;
  let frame = 0;
  let shown = false;
  const clear = () => {
    if (shown) t.err.write('\r\x1b[2K');
    shown = false;
  };
  const draw = () => {
    if (!view) return;
    const line = `${t.dim(SPINNER[frame++ % SPINNER.length]!)} ${describeProgress(view, t, now())}`;
    t.err.write(`\r\x1b[2K${fit(line, t.columns() - 1)}`);
    shown = true;
  };
  const timer = setInterval(draw, opts.tickMs ?? 1000);
  timer.unref();
  return {
    job(v) {
      view = v;
      draw();
    },
    log(text) {
      const whole = lines.push(text);
      if (whole.length === 0) return;
      clear();
      t.err.write(`${whole.join('\n')}\n`);
      draw();
    },
    done(v) {
      clearInterval(timer);
      clear();
      const rest = lines.rest();
      if (rest !== undefined) t.err.write(`${rest}\n`);
      t.err.write(`${describeOutcome(v, t)}\n`);
    },
    close() {
      clearInterval(timer);
      clear();
    },
  };
}

/** --quiet: nothing but the result on stdout. */
export function silentRenderer(): ProgressRenderer {
  return { job() {}, log() {}, done() {}, close() {} };
}
