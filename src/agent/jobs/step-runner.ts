// Runs one step of a job as a child process tree and reports how it ended. Output goes to the job log
// as it arrives; a timeout or a stop kills the whole process group, so nothing the script started
// outlives the step.
import { HttpAgentError } from '../../shared/errors.js';
import type { StepSpec } from '../../shared/protocol/job.js';
import type { StartedTask, TaskLauncher } from '../tasks/task-launcher.js';
import { killTree } from '../tasks/task-process.js';

/** Why a running job is being stopped from outside. */
export type StopReason = 'cancel' | 'stale' | 'shutdown';

export interface RunStepOptions {
  /** Starts the step: its account (tasks.yaml), clean environment, recorded process group. */
  tasks: TaskLauncher;
  step: StepSpec;
  index: number;
  jobId: string;
  attempt: number;
  /** The step's own limit, already cut to what the job's deadline leaves. */
  timeoutMs: number;
  /** Shown when the limit hits ("step timed out after 5s", or the job's deadline). */
  timeoutError: string;
  killGraceMs: number;
  /** Aborted with a StopReason as the reason. */
  signal: AbortSignal;
  /** Takes the step's output; a returned promise pauses the child's pipes until it settles (backpressure). */
  output: (bytes: Buffer) => Promise<void> | undefined;
  onSpawn?: (pid: number | undefined) => void;
}

export interface StepOutcome {
  state: 'succeeded' | 'failed' | 'cancelled';
  exitCode: number | null;
  signal: string | null;
  startedAt: string;
  finishedAt: string;
  error: string | null;
}

/** After the child exits, how long its pipes may stay open (a daemon it left holding them). */
const PIPE_DRAIN_MS = 2_000;

export async function runStep(opts: RunStepOptions): Promise<StepOutcome> {
  const startedAt = new Date().toISOString();
  const ended = (o: Omit<StepOutcome, 'startedAt' | 'finishedAt'>): StepOutcome => ({ ...o, startedAt, finishedAt: new Date().toISOString() });

  if (opts.signal.aborted) return ended({ state: 'cancelled', exitCode: null, signal: null, error: null });

  let started: StartedTask;
  try {
    started = opts.tasks.start(opts.step.task, opts.step.params, {
      HTTPAGENT_JOB_ID: opts.jobId,
      HTTPAGENT_JOB_ATTEMPT: String(opts.attempt),
      HTTPAGENT_STEP_INDEX: String(opts.index),
    });
  } catch (err) {
    // An unknown task, a root task on an agent that is not root, params no process can take.
    const message = err instanceof HttpAgentError ? err.message : `cannot start task "${opts.step.task}": ${(err as Error).message}`;
    void opts.output(Buffer.from(`httpagent: ${message}\n`));
    return ended({ state: 'failed', exitCode: null, signal: null, error: message });
  }
  const { child } = started;
  opts.onSpawn?.(child.pid);
  // A step that writes faster than the disk takes it is paused at the pipe, not buffered in memory.
  let paused = false;
  const onData = (bytes: Buffer) => {
    const wait = opts.output(bytes);
    if (!wait || paused) return;
    paused = true;
    child.stdout.pause();
    child.stderr.pause();
    void wait.finally(() => {
      paused = false;
      child.stdout.resume();
      child.stderr.resume();
    });
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  // 'close': exited and both pipes ended (what the log needs before the step counts as done).
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));

  let timedOut = false;
  let stopReason: StopReason | undefined;
  let killing: Promise<void> | undefined;
  const kill = () => (killing ??= killTree(child.pid, opts.killGraceMs));
  const timer = setTimeout(() => {
    timedOut = true;
    void kill();
  }, Math.max(0, opts.timeoutMs));
  const onAbort = () => {
    stopReason = (opts.signal.reason as StopReason | undefined) ?? 'cancel';
    void kill();
  };
  opts.signal.addEventListener('abort', onAbort, { once: true });

  const exit = await new Promise<{ code: number | null; signal: string | null; error?: string }>((resolve) => {
    child.once('exit', (code, sig) => resolve({ code, signal: sig }));
    child.once('error', (err) => resolve({ code: null, signal: null, error: err.message }));
  });
  clearTimeout(timer);
  opts.signal.removeEventListener('abort', onAbort);
  // Let the pipes drain so the log is complete, but do not wait on a grandchild that kept them open.
  // A child that never started (exit.error) has no pipes worth waiting for.
  const drained = !exit.error && (await Promise.race([closed.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), PIPE_DRAIN_MS).unref())]));
  if (!drained) {
    child.stdout.destroy();
    child.stderr.destroy();
  }
  await killing;
  started.release();

  if (stopReason) return ended({ state: 'cancelled', exitCode: exit.code, signal: exit.signal, error: null });
  if (timedOut) return ended({ state: 'failed', exitCode: exit.code, signal: exit.signal, error: opts.timeoutError });
  if (exit.error) return ended({ state: 'failed', exitCode: null, signal: null, error: `task "${opts.step.task}" failed to run: ${exit.error}` });
  if (exit.code === 0) return ended({ state: 'succeeded', exitCode: 0, signal: null, error: null });
  const why = exit.signal ? `killed by ${exit.signal}` : `exited with ${exit.code}`;
  return ended({ state: 'failed', exitCode: exit.code, signal: exit.signal, error: `step ${opts.index + 1} (${opts.step.task}) ${why}` });
}
