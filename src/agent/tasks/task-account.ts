// Who a task runs as: the task user when the agent is root, the agent's own user when it is not (it
// cannot switch), and root only for tasks tasks.yaml declares `runAs: root`. Resolved once at start.
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { ConfigError } from '../../shared/errors.js';
import { parsePasswd } from './passwd.js';

export interface TaskAccount {
  name: string;
  uid: number;
  gid: number;
  home: string;
  /** Primary and supplementary groups, as the task will have them (for judging what it can read). */
  groups: number[];
  /** Start through setpriv as this uid, gid and groups: the agent is root and this account is not. */
  switchUser: boolean;
}

export interface TaskAccounts {
  /** Runs every task not declared `runAs: root`. */
  task: TaskAccount;
  /** Runs `runAs: root` tasks; undefined when the agent is not root, and those tasks are refused. */
  root: TaskAccount | undefined;
}

export interface AccountFiles {
  /** TEST SEAM: production reads /etc/passwd and /etc/group. */
  passwdFile?: string;
  groupFile?: string;
}

/** gids of the groups that list `user` as a member in an /etc/group text. */
export function memberGroups(groupText: string, user: string): number[] {
  const out: number[] = [];
  for (const line of groupText.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || line.startsWith('#')) continue;
    const gid = Number(f[2]);
    if (Number.isInteger(gid) && f[3]!.split(',').includes(user)) out.push(gid);
  }
  return out;
}

function readOrEmpty(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** The account this process runs as; it starts its tasks directly, without switching. */
export function currentAccount(): TaskAccount {
  const uid = process.getuid!();
  const gid = process.getgid!();
  let name = String(uid);
  let home = '/';
  try {
    const info = userInfo();
    name = info.username;
    home = info.homedir;
  } catch {
    // A uid without a passwd entry (a container's arbitrary uid): the numbers are all there is.
  }
  return { name, uid, gid, home, groups: [...new Set([gid, ...process.getgroups!()])], switchUser: false };
}

function lookupAccount(name: string, files: AccountFiles): TaskAccount | undefined {
  const entry = parsePasswd(readOrEmpty(files.passwdFile ?? '/etc/passwd')).find((e) => e.name === name);
  if (!entry) return undefined;
  const groups = [...new Set([entry.gid, ...memberGroups(readOrEmpty(files.groupFile ?? '/etc/group'), name)])];
  return { name: entry.name, uid: entry.uid, gid: entry.gid, home: entry.home, groups, switchUser: entry.uid !== 0 };
}

/**
 * A root agent runs tasks as `taskUser` (which must exist and must not be uid 0) and `runAs: root`
 * tasks as root; any other agent runs them all as itself and refuses the root ones.
 */
export function resolveTaskAccounts(taskUser: string, agentUid: number, files: AccountFiles = {}): TaskAccounts {
  if (agentUid !== 0) return { task: currentAccount(), root: undefined };
  const task = lookupAccount(taskUser, files);
  if (!task) {
    throw new ConfigError(
      `taskUser: no user "${taskUser}" on this host; install.sh creates it, or: useradd --system --user-group --home-dir /var/lib/${taskUser} --shell /usr/sbin/nologin ${taskUser}`,
    );
  }
  if (task.uid === 0) throw new ConfigError(`taskUser: "${taskUser}" has uid 0; tasks must run as an account that is not root`);
  return { task, root: lookupAccount('root', files) ?? { name: 'root', uid: 0, gid: 0, home: '/root', groups: [0], switchUser: false } };
}
