// The agent's start-up for tasks: tasks.yaml loaded and checked against tasksDir, the accounts
// resolved, a root agent's isolation checked, a non-root agent's exposure said once, and the launcher
// every light task and job step is planned by.
import { accessSync, constants } from 'node:fs';
import { loadTaskManifest } from '../../shared/config/task-manifest.js';
import { ConfigError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { resolveTaskAccounts, type AccountFiles } from './task-account.js';
import { checkTaskIsolation } from './task-isolation.js';
import type { TaskGroups } from './task-groups.js';
import { createTaskLauncher, type TaskLauncher } from './task-launcher.js';
import { resolveTask } from './task-process.js';

/** Where setpriv is looked for; never through PATH. */
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'];

export interface TaskSetupOptions {
  tasksDir: string;
  stateDir: string;
  taskUser: string;
  taskEnv: Record<string, string>;
  /** The --config file, if any: a root agent refuses to start when the task user can read it. */
  configFile: string | undefined;
  /** The agent's environment; only PATH, LANG and LC_* of it reach tasks. */
  hostEnv: Record<string, string | undefined>;
  /** Where every started task's process group is recorded, for the agent to kill on exit. */
  groups: TaskGroups;
  logger: Logger;
  /** TEST SEAM: production reads /etc/passwd and /etc/group. */
  accountFiles?: AccountFiles;
}

function findSetpriv(): string {
  for (const file of SETPRIV) {
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // try the next
    }
  }
  throw new ConfigError(`setpriv (util-linux) is not at ${SETPRIV.join(' or ')}; a root agent needs it to start tasks as taskUser`);
}

/** Throws ConfigError (the agent exits 2) on a bad manifest, a missing task user or a leak to it. */
export function setUpTasks(opts: TaskSetupOptions): TaskLauncher {
  const { manifest, file } = loadTaskManifest(opts.tasksDir);
  for (const name of Object.keys(manifest.tasks)) {
    try {
      resolveTask(opts.tasksDir, name);
    } catch (err) {
      throw new ConfigError(`${file}: tasks.${name}: ${(err as Error).message}`, { cause: err });
    }
  }
  const rootTasks = Object.entries(manifest.tasks)
    .filter(([, t]) => t.runAs === 'root')
    .map(([name]) => name);
  const agentUid = process.getuid!();
  const accounts = resolveTaskAccounts(opts.taskUser, agentUid, opts.accountFiles);
  let setpriv: string | undefined;
  if (accounts.root) {
    setpriv = findSetpriv();
    checkTaskIsolation({ tasksDir: opts.tasksDir, stateDir: opts.stateDir, configFile: opts.configFile, account: accounts.task, agentUid, logger: opts.logger });
  } else {
    // Said once, at start: nothing stands between this agent's tasks and what it holds.
    opts.logger.warn(
      { user: accounts.task.name, uid: accounts.task.uid, configFile: opts.configFile, stateDir: opts.stateDir, refusedRootTasks: rootTasks },
      'the agent is not root: tasks run as its own user and can read its credential and config; run it as root (install.sh does) so they run as taskUser',
    );
  }
  opts.logger.info(
    { user: accounts.task.name, uid: accounts.task.uid, manifest: file ?? null, rootTasks: accounts.root ? rootTasks : [], settings: Object.keys(opts.taskEnv) },
    'tasks run as the task user',
  );
  return createTaskLauncher({
    tasksDir: opts.tasksDir,
    manifest,
    taskEnv: opts.taskEnv,
    account: accounts.task,
    rootAccount: accounts.root,
    hostEnv: opts.hostEnv,
    groups: opts.groups,
    ...(setpriv ? { setpriv } : {}),
  });
}
