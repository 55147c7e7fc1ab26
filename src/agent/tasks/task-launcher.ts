// Plans how a task starts: which account (tasks.yaml's runAs, the task user by default), which
// environment (a clean one, never the agent's), and through what (setpriv when the account changes).
// Test servers run the code under test, so any task may be hostile: nothing in its reach may speak for
// the agent.
import { statSync } from 'node:fs';
import { HttpAgentError } from '../../shared/errors.js';
import { emptyTaskManifest, type RunAs, type TaskManifest } from '../../shared/config/task-manifest.js';
import type { TaskAccount } from './task-account.js';
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
}

export interface TaskLauncher {
  readonly tasksDir: string;
  /** The account `task` runs as, by tasks.yaml. */
  runAs(task: string): RunAs;
  /** Throws UnknownTaskError (400) or TaskNeedsRootError (403) for a task this agent would not start. */
  check(task: string): void;
  /** The same checks, then the command; `extra` are the agent's markers (HTTPAGENT_JOB_ID...). */
  plan(task: string, params?: Record<string, string>, extra?: Record<string, string>): TaskCommand;
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

  return {
    tasksDir: opts.tasksDir,
    runAs,
    check: (task) => void check(task),
    plan(task, params, extra = {}) {
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
      // setpriv sets the real and effective ids and the account's supplementary groups (initgroups);
      // node's own uid/gid options would clear the groups, and a task user in a service's group (the
      // way it deploys into that service's directory) would lose that group.
      const [cmd, args] = account.switchUser
        ? [setpriv, [`--reuid=${account.uid}`, `--regid=${account.gid}`, '--init-groups', '--', file]]
        : [file, []];
      return { file: cmd, args, env, cwd: dir, input: JSON.stringify(params ?? {}), user: account.name, uid: account.uid };
    },
  };
}
