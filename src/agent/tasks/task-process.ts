// Task scripts as processes: resolving a name inside tasksDir, params as environment variables, the
// planned command (task-launcher.ts decides account and environment), and stopping a process group.
// Both light tasks (POST /v1/run) and job steps are started by TaskLauncher.start, nowhere else.
import { constants, accessSync, realpathSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import { HttpAgentError } from '../../shared/errors.js';
import { paramEnvName, paramsSchema, taskNameSchema } from '../../shared/protocol/job.js';
import { parseOr400 } from '../../shared/http/validate.js';

export class UnknownTaskError extends HttpAgentError {
  override name = 'UnknownTaskError';
  constructor(task: string, reason: string) {
    super('UNKNOWN_TASK', `task "${task}" ${reason}`, { details: { task } });
  }
}

/**
 * Resolves a task name to an executable directly inside the tasks directory. The real path must stay
 * inside it, so a symlink planted there cannot point a task at /bin/sh.
 */
export function resolveTask(tasksDir: string, task: string): string {
  if (!taskNameSchema.safeParse(task).success) throw new UnknownTaskError(task, 'is not a valid task name');
  const root = realpathSync(tasksDir);
  let real: string;
  try {
    real = realpathSync(join(root, task));
  } catch {
    throw new UnknownTaskError(task, `is not in the tasks directory`);
  }
  if (!real.startsWith(root + sep)) throw new UnknownTaskError(task, 'leads outside the tasks directory');
  try {
    if (!statSync(real).isFile()) throw new Error('not a file');
    accessSync(real, constants.X_OK);
  } catch {
    throw new UnknownTaskError(task, 'is not an executable file in the tasks directory');
  }
  return real;
}

/**
 * The params as HTTPAGENT_PARAM_* variables, checked again here because not every caller came through
 * an HTTP schema (schedules from config, steps read back from the controller): a NUL or two names for
 * one variable throw ValidationError instead of starting the task with a value missing.
 */
export function paramsToEnv(params: Record<string, string> = {}): Record<string, string> {
  const valid = parseOr400(paramsSchema, params, 'params');
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(valid)) env[paramEnvName(k)] = v;
  return env;
}

/** How to start one task, as the task launcher (task-launcher.ts) planned it. */
export interface TaskCommand {
  /** The script itself, or setpriv when the task switches to an account with supplementary groups. */
  file: string;
  args: string[];
  /** The whole environment: nothing of the agent's is inherited. */
  env: Record<string, string>;
  cwd: string;
  /** The params as one JSON object, for stdin. */
  input: string;
  /** Who it runs as, for logs. */
  user: string;
  uid: number;
  /** Set when the spawn itself switches to this account (it has no supplementary groups). */
  switchTo?: { uid: number; gid: number };
}

/**
 * Stops a process group: SIGTERM to every member, then SIGKILL after `graceMs` if anything of the group
 * is still alive. Resolves when the signal sequence has been sent (the caller awaits the child's exit).
 */
export async function killTree(pid: number | undefined, graceMs: number): Promise<void> {
  if (!pid) return;
  if (!signalGroup(pid, 'SIGTERM')) return;
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, Math.min(50, graceMs)));
    if (!groupAlive(pid)) return;
  }
  signalGroup(pid, 'SIGKILL');
}

function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false; // ESRCH: the group is already gone
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}
