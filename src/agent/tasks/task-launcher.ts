// The one place task processes start, light tasks and job steps alike: which account (tasks.yaml's
// runAs, the task user by default), which environment (a clean one, never the agent's), through what
// (setpriv when the account changes), in a process group of its own that TaskGroups records.
// Test servers run the code under test, so any task may be hostile: nothing in its reach may speak for
// the agent.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { statSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { HttpAgentError, ValidationError } from '../../shared/errors.js';
import { emptyTaskManifest, type RunAs, type TaskManifest } from '../../shared/config/task-manifest.js';
import type { TaskAccount } from './task-account.js';
import type { TaskGroups } from './task-groups.js';
import { paramsToEnv, resolveTask, type TaskCommand } from './task-process.js';

export class TaskNeedsRootError extends HttpAgentError {
  override name = 'TaskNeedsRootError';
  constructor(task: string, agentUser: string) {
    super('TASK_NEEDS_ROOT', `task "${task}" runs as root (tasks.yaml), and this agent runs as ${agentUser}, not root`, { details: { task } });
  }
}

export interface TaskLauncherOptions {
  tasksDir: string;
  manifest?: TaskManifest;
  /** The operator's settings (config `taskEnv`), over the manifest's. */
  taskEnv?: Record<string, string>;
  /** Runs every task not declared `runAs: root`. */
  account: TaskAccount;
  /** Runs `runAs: root` tasks; undefined: the agent is not root and refuses them. */
  rootAccount?: TaskAccount | undefined;
  /** Where PATH, LANG and LC_* come from (the agent's environment); nothing else of it is read. */
  hostEnv: Record<string, string | undefined>;
  /** setpriv (util-linux), by absolute path: a PATH lookup by a root process could be steered. */
  setpriv?: string;
  /** Where each started task's process group is recorded while it runs, so an agent that exits takes it along. */
  groups?: TaskGroups | undefined;
}

export type TaskChild = ChildProcessByStdio<Writable, Readable, Readable>;

export interface StartedTask {
  child: TaskChild;
  command: TaskCommand;
  /** Forgets the task's group in TaskGroups: call once the task ended and any stop of its group is done. */
  release(): void;
}

export interface TaskLauncher {
  readonly tasksDir: string;
  /** The account `task` runs as, by tasks.yaml. */
  runAs(task: string): RunAs;
  /** Throws UnknownTaskError (400) or TaskNeedsRootError (403) for a task this agent would not start. */
  check(task: string): void;
  /** The same checks, then the command; `extra` are the agent's markers (HTTPAGENT_JOB_ID...). */
  plan(task: string, params?: Record<string, string>, extra?: Record<string, string>): TaskCommand;
  /**
   * Plans and spawns the task: no shell, params as env and JSON on stdin, detached so that it leads a
   * process group a timeout or stop kills whole (and a drain's signal to the agent's group spares).
   * Throws what plan throws, and taskStartFailure's error when the kernel refuses at once (E2BIG is
   * thrown by spawn itself); a later refusal comes as the child's 'error' event with no pid. node's spawn, not execa: execa costs about 1.5 ms of CPU per spawn, most of an agent's time
   * on a short step, and callers capture, kill and wait by themselves.
   */
  start(task: string, params?: Record<string, string>, extra?: Record<string, string>): StartedTask;
}

/** Params too large for execve are the caller's fault (400); any other refusal to start is ours (500). */
export function taskStartFailure(task: string, errno: string | undefined, cause?: unknown): HttpAgentError {
  if (errno === 'E2BIG') return new ValidationError('params: too large together to pass as environment variables (E2BIG)');
  return new HttpAgentError('TASK_START_FAILED', `task "${task}" could not be started (${errno ?? 'unknown error'})`, { cause });
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The part of the agent's environment a task may see: where programs are and the locale. */
function hostPart(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = { PATH: env.PATH || DEFAULT_PATH };
  for (const [k, v] of Object.entries(env)) {
    if (v !== undefined && (k === 'LANG' || k === 'LANGUAGE' || k.startsWith('LC_'))) out[k] = v;
  }
  return out;
}

/** The home when it is a directory, else `/`: a task needs a working directory it can stand in. */
function workDir(account: TaskAccount): string {
  try {
    return statSync(account.home).isDirectory() ? account.home : '/';
  } catch {
    return '/';
  }
}

export function createTaskLauncher(opts: TaskLauncherOptions): TaskLauncher {
  const manifest = opts.manifest ?? emptyTaskManifest;
  const host = hostPart(opts.hostEnv);
  const setpriv = opts.setpriv ?? '/usr/bin/setpriv';
  const cwd = new Map<TaskAccount, string>();
  const runAs = (task: string): RunAs => manifest.tasks[task]?.runAs ?? 'task';

  function accountFor(task: string): TaskAccount {
    if (runAs(task) === 'task') return opts.account;
    if (!opts.rootAccount) throw new TaskNeedsRootError(task, opts.account.name);
    return opts.rootAccount;
  }

  function check(task: string): { file: string; account: TaskAccount } {
    const file = resolveTask(opts.tasksDir, task);
    return { file, account: accountFor(task) };
  }

  function plan(task: string, params?: Record<string, string>, extra: Record<string, string> = {}): TaskCommand {
    const { file, account } = check(task);
    const env: Record<string, string> = {
      ...host,
      ...manifest.defaults.env,
      ...(manifest.tasks[task]?.env ?? {}),
      ...(opts.taskEnv ?? {}),
      HOME: account.home,
      USER: account.name,
      LOGNAME: account.name,
      ...extra,
      ...paramsToEnv(params),
    };
    let dir = cwd.get(account);
    if (dir === undefined) cwd.set(account, (dir = workDir(account)));
    const command = { file, args: [] as string[], env, cwd: dir, input: JSON.stringify(params ?? {}), user: account.name, uid: account.uid };
    if (!account.switchUser) return command;
    // An account in no group but its own switches in the spawn itself: node sets the gid and uid and
    // clears the supplementary groups, which leaves exactly what initgroups would, one exec fewer per
    // task. One in other groups too (a service's group, the way it deploys into that service's
    // directory) goes through setpriv, the one that sets them (--init-groups).
    if (account.groups.every((g) => g === account.gid)) return { ...command, switchTo: { uid: account.uid, gid: account.gid } };
    return { ...command, file: setpriv, args: [`--reuid=${account.uid}`, `--regid=${account.gid}`, '--init-groups', '--', file] };
  }

  return {
    tasksDir: opts.tasksDir,
    runAs,
    check: (task) => void check(task),
    plan,
    start(task, params, extra) {
      const command = plan(task, params, extra);
      let child: TaskChild;
      try {
        child = spawn(command.file, command.args, { cwd: command.cwd, env: command.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true, ...command.switchTo });
      } catch (err) {
        throw taskStartFailure(task, (err as NodeJS.ErrnoException).code, err);
      }
      const release = opts.groups?.track(child.pid) ?? (() => undefined);
      // A script that does not read stdin closes it early; that EPIPE is not the task's failure.
      child.stdin.on('error', () => undefined);
      child.stdin.end(command.input);
      return { child, command, release };
    },
  };
}
