// Accounts for tests of real agent processes. A root agent runs its tasks as taskUser (default
// httpagent-task), so test files that start one as root make sure that user exists, and open the temp
// directories their tasks write to; tests of a non-root agent make a throwaway user of their own.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, chownSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

export const asRoot = process.getuid?.() === 0;
/** The agent's default taskUser, which install.sh creates. */
export const TASK_USER = 'httpagent-task';

export interface TestAccount {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

function account(name: string): TestAccount {
  const line = execFileSync('getent', ['passwd', name]).toString().trim().split(':');
  return { name, uid: Number(line[2]), gid: Number(line[3]), home: line[5]! };
}

/** useradd, taking "already exists" (exit 9: another test file made it first) as done. */
function useradd(name: string, home: string): void {
  const r = spawnSync('useradd', ['--system', '--user-group', '--home-dir', home, '--no-create-home', '--shell', '/usr/sbin/nologin', name]);
  if (r.status !== 0 && r.status !== 9) throw new Error(`useradd ${name} failed (${r.status}): ${r.stderr}`);
}

/** The task user as install.sh makes it (an empty home of its own); a no-op when it exists. Root only. */
export function ensureTaskUser(): TestAccount {
  const home = `/var/lib/${TASK_USER}`;
  if (spawnSync('id', ['-u', TASK_USER]).status !== 0) useradd(TASK_USER, home);
  const a = account(TASK_USER);
  mkdirSync(a.home, { recursive: true, mode: 0o750 });
  chownSync(a.home, a.uid, a.gid);
  return a;
}

/** A throwaway system user (no home); `remove` deletes it. Root only. */
export function createTempUser(prefix: string): TestAccount & { remove(): void } {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`.slice(0, 32);
  useradd(name, '/nonexistent');
  return { ...account(name), remove: () => void spawnSync('userdel', [name]) };
}

/**
 * A temp directory the test and the task user can both write to, like /tmp (sticky: neither removes
 * the other's files). mkdtemp makes it 0700, which no task running as another user could enter.
 */
export function shareWithTasks(dir: string): string {
  if (asRoot) chmodSync(dir, 0o1777);
  return dir;
}
