// Running one allow-listed task synchronously for POST /v1/run: output captured up to a cap per stream,
// and a timeout, a caller who hung up or the agent's shutdown stops the whole process group.
import { taskStartFailure, type TaskLauncher } from './task-launcher.js';
import { killTree } from './task-process.js';

export interface LightTaskOptions {
  /** Starts the task: its account (tasks.yaml), clean environment, recorded process group. */
  tasks: TaskLauncher;
  task: string;
  params?: Record<string, string> | undefined;
  timeoutMs: number;
  killGraceMs: number;
  /** Bytes kept of each of stdout and stderr; the rest is read and dropped so the child never blocks. */
  outputCapBytes: number;
  /** Aborted when the caller went away or the agent stops: the task is stopped like on a timeout. */
  signal?: AbortSignal;
}

export interface LightTaskResult {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  /** Some output was dropped at the cap. */
  truncated: boolean;
  /** The task ran out of time and its process group was stopped. */
  timedOut: boolean;
}

class CappedBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly cap: number) {}
  push(chunk: Buffer): void {
    const room = this.cap - this.size;
    if (room <= 0) {
      this.truncated ||= chunk.length > 0;
      return;
    }
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (part.length < chunk.length) this.truncated = true;
    this.chunks.push(part);
    this.size += part.length;
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/**
 * Throws UnknownTaskError (400) before spawning when the task is not allow-listed, TaskNeedsRootError
 * (403) for a root task on an agent that is not root, ValidationError (400) for params no process can
 * take, TASK_START_FAILED (500) when the kernel refused to start it.
 */
export async function runLightTask(opts: LightTaskOptions): Promise<LightTaskResult> {
  const started = performance.now();
  const { child, release } = opts.tasks.start(opts.task, opts.params);
  // 'close': exited and both pipes ended. 'error' without a pid: the kernel refused to start it.
  const ended = new Promise<{ code: number | null; signal: string | null; errno?: string }>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal }));
    child.once('error', (e: NodeJS.ErrnoException) => {
      if (child.pid === undefined) resolve({ code: null, signal: null, errno: e.code ?? 'unknown error' });
    });
  });
  const out = new CappedBuffer(opts.outputCapBytes);
  const err = new CappedBuffer(opts.outputCapBytes);
  child.stdout?.on('data', (c: Buffer) => out.push(c));
  child.stderr?.on('data', (c: Buffer) => err.push(c));

  let timedOut = false;
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= killTree(child.pid, opts.killGraceMs));
  const timer = setTimeout(() => {
    timedOut = true;
    void stop();
  }, opts.timeoutMs);
  const onAbort = () => void stop();
  // Aborted while it waited in the queue (the agent is stopping): started only to be stopped at once.
  if (opts.signal?.aborted) onAbort();
  else opts.signal?.addEventListener('abort', onAbort, { once: true });

  try {
    // Resolves when the script exited and its output pipes closed: a background child that keeps
    // stdout open holds the call until the timeout stops the group; one that detaches its output is left running.
    const result = await ended;
    if (stopping) await stopping;
    // No pid: the task never started. Answering 200 with no exit code would read as "ran, said nothing".
    if (result.errno !== undefined) throw taskStartFailure(opts.task, result.errno);
    return {
      exitCode: result.code,
      signal: result.signal,
      stdout: out.text(),
      stderr: err.text(),
      durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      truncated: out.truncated || err.truncated,
      timedOut,
    };
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    release();
  }
}
