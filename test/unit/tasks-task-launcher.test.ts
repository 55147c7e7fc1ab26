// How the task launcher plans a start (account, setpriv, environment), and the owner/group/other rule
// the start-up checks judge the task user's reach by.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { memberGroups, type TaskAccount } from '../../src/agent/tasks/task-account.js';
import { createTaskLauncher } from '../../src/agent/tasks/task-launcher.js';
import { permits } from '../../src/agent/tasks/task-isolation.js';

const tasksDir = mkdtempSync(join(tmpdir(), 'httpagent-launcher-'));
afterAll(() => rmSync(tasksDir, { recursive: true, force: true }));
for (const t of ['deploy', 'init', 'free']) writeFileSync(join(tasksDir, t), '#!/bin/sh\n', { mode: 0o755 });

const taskUser: TaskAccount = { name: 'httpagent-task', uid: 990, gid: 985, home: '/nonexistent-home', groups: [985, 50], switchUser: true };
const root: TaskAccount = { name: 'root', uid: 0, gid: 0, home: '/', groups: [0], switchUser: false };
const manifest = {
  version: 1 as const,
  defaults: { env: { SITE: 'a', SERVICE_ROOTS: '/default' } },
  tasks: { deploy: { runAs: 'task' as const, env: { SERVICE_ROOTS: '/srv' } }, init: { runAs: 'root' as const, env: {} } },
};
const hostEnv = { PATH: '/opt/bin:/usr/bin', LANG: 'C.UTF-8', LC_ALL: 'C', HTTPAGENT_AGENT_TOKEN: 'secret-token-0123456789', AWS_SECRET_ACCESS_KEY: 'x', HOME: '/root', USER: 'root' };

describe('task launcher', () => {
  const launcher = createTaskLauncher({ tasksDir, manifest, taskEnv: { SERVICE_ROOTS: '/op' }, account: taskUser, rootAccount: root, hostEnv, setpriv: '/usr/bin/setpriv' });

  it('starts a task-user task through setpriv with its ids and groups, in a directory that exists', () => {
    const c = launcher.plan('deploy', { dir: '/srv/a' });
    expect(c.file).toBe('/usr/bin/setpriv');
    expect(c.args).toEqual(['--reuid=990', '--regid=985', '--init-groups', '--', join(tasksDir, 'deploy')]);
    expect(c).toMatchObject({ cwd: '/', user: 'httpagent-task', uid: 990, input: '{"dir":"/srv/a"}' });
  });

  it('switches to an account in no other group in the spawn itself, without setpriv', () => {
    const alone = createTaskLauncher({ tasksDir, manifest, account: { ...taskUser, groups: [985] }, rootAccount: root, hostEnv, setpriv: '/usr/bin/setpriv' });
    expect(alone.plan('deploy')).toMatchObject({ file: join(tasksDir, 'deploy'), args: [], switchTo: { uid: 990, gid: 985 }, user: 'httpagent-task' });
    expect(launcher.plan('deploy').switchTo).toBeUndefined(); // groups [985, 50]: setpriv sets the 50 too
    expect(launcher.plan('init').switchTo).toBeUndefined(); // root runs as itself
  });

  it('builds the environment from PATH, locale, the account, the settings and the params only', () => {
    expect(launcher.plan('deploy', { dir: '/srv/a' }, { HTTPAGENT_JOB_ID: 'j1' }).env).toEqual({
      PATH: '/opt/bin:/usr/bin',
      LANG: 'C.UTF-8',
      LC_ALL: 'C',
      SITE: 'a',
      SERVICE_ROOTS: '/op', // taskEnv over the task's env over the defaults
      HOME: '/nonexistent-home',
      USER: 'httpagent-task',
      LOGNAME: 'httpagent-task',
      HTTPAGENT_JOB_ID: 'j1',
      HTTPAGENT_PARAM_DIR: '/srv/a',
    });
  });

  it('runs a runAs: root task directly as root, and an undeclared one as the task user', () => {
    expect(launcher.plan('init')).toMatchObject({ file: join(tasksDir, 'init'), args: [], uid: 0, user: 'root' });
    expect(launcher.plan('free')).toMatchObject({ file: '/usr/bin/setpriv', uid: 990 });
    expect(launcher.runAs('free')).toBe('task');
  });

  it('refuses a root task with TASK_NEEDS_ROOT when there is no root account, and an unknown task with UNKNOWN_TASK', () => {
    const plain = createTaskLauncher({ tasksDir, manifest, account: { ...taskUser, switchUser: false }, hostEnv });
    expect(() => plain.check('init')).toThrow(expect.objectContaining({ code: 'TASK_NEEDS_ROOT', statusCode: 403 }));
    expect(() => plain.plan('init')).toThrow(expect.objectContaining({ code: 'TASK_NEEDS_ROOT' }));
    expect(plain.plan('deploy')).toMatchObject({ file: join(tasksDir, 'deploy'), args: [] });
    expect(() => plain.check('nope')).toThrow(expect.objectContaining({ code: 'UNKNOWN_TASK' }));
  });
});

describe('the reach of the task user', () => {
  const who = { uid: 990, groups: [985, 50] };
  it('owner: everything; group member: the group bits; anyone else: the other bits', () => {
    expect(permits({ uid: 990, gid: 0, mode: 0o100000 }, who, 'read')).toBe(true);
    expect(permits({ uid: 0, gid: 50, mode: 0o100640 }, who, 'read')).toBe(true);
    expect(permits({ uid: 0, gid: 50, mode: 0o100604 }, who, 'read')).toBe(false); // a member gets the group bits, not other's
    expect(permits({ uid: 0, gid: 0, mode: 0o100640 }, who, 'read')).toBe(false);
    expect(permits({ uid: 0, gid: 0, mode: 0o100644 }, who, 'read')).toBe(true);
    expect(permits({ uid: 0, gid: 0, mode: 0o040757 }, who, 'write')).toBe(true);
    expect(permits({ uid: 0, gid: 0, mode: 0o040755 }, who, 'write')).toBe(false);
    expect(permits({ uid: 0, gid: 0, mode: 0o040700 }, who, 'search')).toBe(false);
  });

  it('finds supplementary groups in /etc/group', () => {
    expect(memberGroups('root:x:0:\nadm:x:4:syslog,httpagent-task\nweb:x:50:httpagent-task\nx:x:9:httpagent-taskx\n', 'httpagent-task')).toEqual([4, 50]);
  });
});
