// Every process a test worker starts, found again at teardown. The setup file (test/setup/processes.ts)
// hooks ChildProcess.prototype.spawn, the one path every async spawn in Node takes (spawn, execFile,
// execa, simple-git), to record each child and to put an owner tag in its environment. Descendants
// inherit the tag, so what escaped the worker's ppid chain is still found in /proc: a supervisord that
// daemonized, a guard an agent started detached, the step tree of an agent killed with -9.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';

export const OWNER_ENV = 'VITEST_HTTPAGENT_OWNER';

// Kept on globalThis: a worker may evaluate this module once per test file, and the spawn hook
// installed by the first evaluation must keep feeding the same tag and log.
const shared = ((globalThis as Record<symbol, unknown>)[Symbol.for('httpagent.test.processes')] ??= {
  /** Unique per worker process: pids come back (pid_max may be 32768), a random tag does not. */
  tag: `${process.pid}-${randomBytes(6).toString('hex')}`,
  log: [] as SpawnRecord[],
}) as { tag: string; log: SpawnRecord[] };

export const ownerTag = shared.tag;
const ownerEntry = `${OWNER_ENV}=${ownerTag}`;

export interface SpawnRecord {
  pid: number | undefined;
  detached: boolean;
  cmd: string;
}

export interface ProcInfo {
  pid: number;
  ppid: number;
  pgid: number;
  /** One letter from /proc/PID/stat: R, S, T (stopped), Z (zombie)... */
  state: string;
  cmd: string;
}

/** Every child the spawn hook saw in this worker: for unit files (which may spawn nothing) and failure messages. */
export const spawnLog: SpawnRecord[] = shared.log;

export function recordSpawn(pid: number | undefined, detached: boolean, cmd: string): void {
  spawnLog.push({ pid, detached, cmd: cmd.slice(0, 300) });
}

/** Adds the owner tag to a spawn's environment (the "K=V" pairs Node hands to the kernel). */
export function tagEnvPairs(envPairs: string[] | undefined): void {
  if (envPairs && !envPairs.some((p) => p.startsWith(`${OWNER_ENV}=`))) envPairs.push(ownerEntry);
}

function readProc(pid: number): ProcInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
    } catch {
      // gone meanwhile
    }
    return { pid, state: f[0]!, ppid: Number(f[1]), pgid: Number(f[2]), cmd: cmd || stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) };
  } catch {
    return undefined;
  }
}

function carriesTag(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(ownerEntry);
  } catch {
    return false;
  }
}

/**
 * Live processes this worker started, directly or not: descendants by ppid, or carrying its tag.
 * Zombies are dead already (a container's pid 1 may be slow to reap orphans) and are left out.
 */
export function ownedProcesses(): ProcInfo[] {
  const all: ProcInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const p = readProc(Number(name));
    if (p) all.push(p);
  }
  const byPid = new Map(all.map((p) => [p.pid, p]));
  const descends = (p: ProcInfo): boolean => {
    for (let cur: ProcInfo | undefined = p, hops = 0; cur && hops < 64; cur = byPid.get(cur.ppid), hops++) {
      if (cur.ppid === process.pid) return true;
      if (cur.ppid <= 1) return false;
    }
    return false;
  };
  return all.filter((p) => p.pid !== process.pid && p.state !== 'Z' && (descends(p) || carriesTag(p.pid)));
}

export function describeProcesses(ps: ProcInfo[]): string {
  return ps.map((p) => `  pid ${p.pid} (pgid ${p.pgid}, ppid ${p.ppid}, state ${p.state}): ${p.cmd.slice(0, 200)}`).join('\n');
}

const ownGroup = (() => {
  try {
    return readProc(process.pid)?.pgid ?? -1;
  } catch {
    return -1;
  }
})();

/** A group leader (spawned detached) is signalled with its whole group; anything else alone. Never our own group. */
function signal(p: ProcInfo, sig: NodeJS.Signals): void {
  try {
    if (p.pgid === p.pid && p.pgid !== ownGroup) process.kill(-p.pgid, sig);
    else process.kill(p.pid, sig);
  } catch {
    // already gone
  }
}

const stillThere = (ps: ProcInfo[]): ProcInfo[] => ps.filter((p) => {
  const now = readProc(p.pid);
  return now !== undefined && now.state !== 'Z';
});

/**
 * Ends every process this worker started: SIGCONT first (a stopped process cannot act on SIGTERM), then
 * SIGTERM, and SIGKILL for whatever is still there after `graceMs`. Returns what it found.
 */
export async function endOwnedProcesses(graceMs = 2000): Promise<ProcInfo[]> {
  const found = ownedProcesses();
  if (found.length === 0) return found;
  for (const p of found) signal(p, 'SIGCONT');
  for (const p of found) signal(p, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  let left = stillThere(found);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    left = stillThere(left);
  }
  // A SIGTERM handler may have started children of its own meanwhile: look again.
  for (const p of [...left, ...ownedProcesses()]) signal(p, 'SIGKILL');
  const killDeadline = Date.now() + 5000;
  while (ownedProcesses().length > 0 && Date.now() < killDeadline) await new Promise((r) => setTimeout(r, 50));
  return found;
}

/** The last resort at worker exit: synchronous, so SIGKILL at once. */
export function killOwnedProcessesNow(): void {
  for (const p of ownedProcesses()) {
    signal(p, 'SIGCONT');
    signal(p, 'SIGKILL');
  }
}

/** Polls until this worker owns no live process, for up to `ms`; returns what is left. */
export async function ownedAfter(ms: number): Promise<ProcInfo[]> {
  const deadline = Date.now() + ms;
  let left = ownedProcesses();
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    left = ownedProcesses();
  }
  return left;
}
