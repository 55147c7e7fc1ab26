// Start-up checks of a root agent that its task user cannot reach what speaks for the agent: the config
// file (tokens) and the state directory (credential, spool) must be out of its reach, and nothing a
// root task runs (tasksDir, tasks.yaml, every script and library there) may be writable by it, or
// a task could make itself root on the next run. Judged by the kernel's owner/group/other rule.
import { chmodSync, lstatSync, mkdirSync, readdirSync, realpathSync, statSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConfigError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { TaskAccount } from './task-account.js';

type Access = 'read' | 'write' | 'search';
const BITS: Record<Access, [owner: number, group: number, other: number]> = {
  read: [0o400, 0o040, 0o004],
  write: [0o200, 0o020, 0o002],
  search: [0o100, 0o010, 0o001],
};

/**
 * Whether `who` has `access` to a file with this owner and mode. The owner counts as having every
 * access (it may chmod the file); otherwise the group class applies to a member of the file's group,
 * the other class to everyone else, as the kernel decides (ACLs are not looked at).
 */
export function permits(st: Pick<Stats, 'uid' | 'gid' | 'mode'>, who: Pick<TaskAccount, 'uid' | 'groups'>, access: Access): boolean {
  if (who.uid === 0 || st.uid === who.uid) return true;
  const [, group, other] = BITS[access];
  return (st.mode & (who.groups.includes(st.gid) ? group : other)) !== 0;
}

const mode = (st: Stats) => (st.mode & 0o7777).toString(8).padStart(4, '0');
const describe = (st: Stats) => `owner uid ${st.uid}, gid ${st.gid}, mode ${mode(st)}`;

/**
 * A directory above `path` that the account may write, so it could rename `path` away and put its own
 * in its place. A sticky directory (/tmp) lets it rename only what it owns, which the checks of the
 * entries themselves catch.
 */
function writableAncestor(path: string, who: TaskAccount): string | undefined {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const st = statSync(dir);
    if (permits(st, who, 'write') && (st.mode & 0o1000) === 0) return `${dir} (${describe(st)})`;
    if (dir === '/') return undefined;
  }
}

export interface IsolationCheckOptions {
  tasksDir: string;
  stateDir: string;
  /** The --config file, if the agent was given one. */
  configFile: string | undefined;
  /** The task user. */
  account: TaskAccount;
  agentUid: number;
  logger: Logger;
}

/**
 * The config file must be neither readable nor writable by the task user: refused (ConfigError) when
 * it is, because it holds the agent's tokens and says which tasks run as root. The operator chose its
 * mode, so the agent does not change it.
 */
function checkConfigFile(file: string, who: TaskAccount): void {
  const real = realpathSync(file);
  const st = statSync(real);
  for (const access of ['read', 'write'] as const) {
    if (permits(st, who, access)) {
      throw new ConfigError(`${file} can be ${access === 'read' ? 'read' : 'changed'} by the task user ${who.name} (${describe(st)}); it holds the agent's tokens: chown root: ${file} && chmod 600 ${file}`);
    }
  }
  const above = writableAncestor(real, who);
  if (above) throw new ConfigError(`the task user ${who.name} can replace ${file}: it may write ${above}`);
}

/**
 * The state directory is the agent's own: created 0700, and tightened to 0700 when an older install
 * left it group- or world-accessible (a warning says so). Owned by anyone else it is refused: its
 * owner could read or replace the credential.
 */
function secureStateDir(stateDir: string, who: TaskAccount, agentUid: number, logger: Logger): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const real = realpathSync(stateDir);
  const st = statSync(real);
  if (st.uid !== agentUid) throw new ConfigError(`stateDir ${stateDir} belongs to uid ${st.uid}, not to the agent (uid ${agentUid}); its owner could read the agent's credential`);
  if ((st.mode & 0o077) !== 0) {
    chmodSync(real, 0o700);
    logger.warn({ stateDir, was: mode(st) }, 'stateDir was open to other users; made it 0700 so tasks cannot read the credential in it');
  }
  const above = writableAncestor(real, who);
  if (above) throw new ConfigError(`the task user ${who.name} can replace stateDir ${stateDir}: it may write ${above}`);
}

/**
 * Every entry under tasksDir (and tasksDir itself, and tasks.yaml) must be out of the task user's
 * write reach, and tasksDir within its search reach (or no task could start). Symlinks are not
 * followed: resolveTask refuses one that leads out of tasksDir, and what it leads to inside is checked.
 */
function checkTasksDir(tasksDir: string, who: TaskAccount): void {
  const root = realpathSync(tasksDir);
  const above = writableAncestor(root, who);
  if (above) throw new ConfigError(`the task user ${who.name} can replace tasksDir ${tasksDir}: it may write ${above}`);
  for (let dir = root; ; dir = dirname(dir)) {
    const st = statSync(dir);
    if (!permits(st, who, 'search')) throw new ConfigError(`the task user ${who.name} cannot reach tasksDir ${tasksDir}: ${dir} is closed to it (${describe(st)}); chmod o+x ${dir}`);
    if (dir === '/') break;
  }
  const walk = (path: string): void => {
    const st = lstatSync(path);
    if (st.isSymbolicLink()) return;
    if (permits(st, who, 'write')) {
      throw new ConfigError(`${path} can be changed by the task user ${who.name} (${describe(st)}); a task could rewrite what a root task runs: chown root: and chmod go-w it`);
    }
    if (st.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
  };
  walk(root);
}

/** Throws ConfigError on the first way the task user could reach the agent's secrets or its root tasks. */
export function checkTaskIsolation(opts: IsolationCheckOptions): void {
  if (opts.configFile) checkConfigFile(opts.configFile, opts.account);
  secureStateDir(opts.stateDir, opts.account, opts.agentUid, opts.logger);
  checkTasksDir(opts.tasksDir, opts.account);
}
