// Accounts for tests of real agent processes. A root agent runs its tasks as taskUser; the tests name
// `nobody` (on every Debian host, so nothing is created or left behind) unless they make a throwaway
// user of their own, which they delete. Temp directories tasks write to are opened to that account.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export const asRoot = process.getuid?.() === 0;
/** The task user of root agents in tests: any account that is not root serves, and this one exists. */
export const TEST_TASK_USER = 'nobody';
/** What a test agent gets in its environment so a root agent runs tasks as TEST_TASK_USER. */
export const testTaskUserEnv: Record<string, string> = { HTTPAGENT_TASK_USER: TEST_TASK_USER };

export interface TestAccount {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export function account(name: string): TestAccount {
  const line = execFileSync('getent', ['passwd', name]).toString().trim().split(':');
  return { name, uid: Number(line[2]), gid: Number(line[3]), home: line[5]! };
}

/** A throwaway system user (no home, no login) with a name no other run uses; `remove` deletes it. Root only. */
export function createTempUser(prefix: string): TestAccount & { remove(): void } {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`.slice(0, 32);
  const r = spawnSync('useradd', ['--system', '--user-group', '--home-dir', '/nonexistent', '--no-create-home', '--shell', '/usr/sbin/nologin', name]);
  if (r.status !== 0) throw new Error(`useradd ${name} failed (${r.status}): ${r.stderr}`);
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

/**
 * A temp directory the task user can enter and read but not write (0755, where mkdtemp gives 0700): a
 * root agent refuses a tasks dir, or a config beside it, that its task user could not reach or could change.
 */
export function tempDirTasksCanRead(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return dir;
}
