// A task launcher for in-process tests that are not about accounts: every task runs as the test
// process itself (root tasks too, when that is root), with tasksDir's tasks.yaml if it has one.
import { loadTaskManifest } from '../../src/shared/config/task-manifest.js';
import { currentAccount } from '../../src/agent/tasks/task-account.js';
import type { TaskGroups } from '../../src/agent/tasks/task-groups.js';
import { createTaskLauncher, type TaskLauncher } from '../../src/agent/tasks/task-launcher.js';

export interface SameUserTasksOptions {
  taskEnv?: Record<string, string>;
  hostEnv?: Record<string, string | undefined>;
  groups?: TaskGroups;
}

export function sameUserTasks(tasksDir: string, opts: SameUserTasksOptions = {}): TaskLauncher {
  const account = currentAccount();
  return createTaskLauncher({
    tasksDir,
    manifest: loadTaskManifest(tasksDir).manifest,
    taskEnv: opts.taskEnv ?? {},
    account,
    rootAccount: account.uid === 0 ? account : undefined,
    hostEnv: opts.hostEnv ?? process.env,
    groups: opts.groups,
  });
}
