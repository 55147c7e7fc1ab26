// Runs one step of a job as a child process tree and reports how it ended. Output goes to the job log
// as it arrives; a timeout or a stop kills the whole process group, so nothing the script started
// outlives the step.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { StepSpec } from '../../shared/protocol/job.js';
import type { TaskGroups } from '../tasks/task-groups.js';
import { killTree, paramsToEnv, resolveTask, UnknownTaskError } from '../tasks/task-process.js';

/** Why a running job is being stopped from outside. */
export type StopReason = 'cancel' | 'stale' | 'shutdown';

export interface RunStepOptions {
  tasksDir: string;
  baseEnv: Record<string, string>;
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
  /** Where the step's group is recorded while it runs, so an agent that exits takes it along. */
  taskGroups?: TaskGroups | undefined;
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

type StepChild = ChildProcessByStdio<Writable, Readable, Readable>;

/**
 * Spawned with node's spawn, not through startTask (task-process.ts, which light tasks use), but on the
 * same terms: allow-listed file, params as env and JSON stdin, own process group, no shell. execa's extra
 * machinery costs about 1.5 ms of CPU per spawn, most of an agent's time on a job whose step is short,
 * and the step runner needs none of it (it captures, kills and waits by itself).
 */
function spawnStep(opts: RunStepOptions): StepChild {
  const file = resolveTask(opts.tasksDir, opts.step.task);
  const child = spawn(file, [], {
    cwd: opts.tasksDir,
    env: {
      ...opts.baseEnv,
      HTTPAGENT_JOB_ID: opts.jobId,
      HTTPAGENT_JOB_ATTEMPT: String(opts.attempt),
      HTTPAGENT_STEP_INDEX: String(opts.index),
      ...paramsToEnv(opts.step.params),
    },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  // A script that does not read stdin closes it early; that EPIPE is not the step's failure.
  child.stdin.on('error', () => undefined);
  child.stdin.end(JSON.stringify(opts.step.params ?? {}));
  return child;
}

export async function runStep(opts: RunStepOptions): Promise<StepOutcome> {
  const startedAt = new Date().toISOString();
  const ended = (o: Omit<StepOutcome, 'startedAt' | 'finishedAt'>): StepOutcome => ({ ...o, startedAt, finishedAt: new Date().toISOString() });

  if (opts.signal.aborted) return ended({ state: 'cancelled', exitCode: null, signal: null, error: null });

  let child: StepChild;
  try {
    child = spawnStep(opts);
  } catch (err) {
    const message = err instanceof UnknownTaskError ? err.message : `cannot start task "${opts.step.task}": ${(err as Error).message}`;
    void opts.output(Buffer.from(`httpagent: ${message}\n`));
    return ended({ state: 'failed', exitCode: null, signal: null, error: message });
  }
  opts.onSpawn?.(child.pid);
  const untrack = opts.taskGroups?.track(child.pid);
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
  untrack?.();

  if (stopReason) return ended({ state: 'cancelled', exitCode: exit.code, signal: exit.signal, error: null });
  if (timedOut) return ended({ state: 'failed', exitCode: exit.code, signal: exit.signal, error: opts.timeoutError });
  if (exit.error) return ended({ state: 'failed', exitCode: null, signal: null, error: `task "${opts.step.task}" failed to run: ${exit.error}` });
  if (exit.code === 0) return ended({ state: 'succeeded', exitCode: 0, signal: null, error: null });
  const why = exit.signal ? `killed by ${exit.signal}` : `exited with ${exit.code}`;
  return ended({ state: 'failed', exitCode: exit.code, signal: exit.signal, error: `step ${opts.index + 1} (${opts.step.task}) ${why}` });
}
