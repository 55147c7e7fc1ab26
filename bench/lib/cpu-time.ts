// CPU time of the processes that do a measured piece of work, from /proc/<pid>/stat (utime + stime, and
// optionally cutime + cstime of reaped children): the figure beside every wall clock, because on a shared
// machine a wall clock says as much about the neighbours as about the code, while CPU per job does not.
import { readFile } from 'node:fs/promises';
import type { Redis } from 'ioredis';

/** USER_HZ: the unit of the /proc/<pid>/stat times; 100 on every Linux this runs on. */
const TICKS_PER_SECOND = 100;

export interface CpuSource {
  /** What the process is, e.g. "controller", "agent", "redis", "bench process". */
  label: string;
  pid: number;
  /** Also count children the process has reaped (a spawned script's CPU belongs to its job). */
  children?: boolean;
}

/** CPU seconds a process has used so far (and its reaped children with `children`). */
export async function cpuSecondsOf(pid: number, children = false): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after "(comm)": state is [0], utime [11], stime [12], cutime [13], cstime [14].
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  return (f[11]! + f[12]! + (children ? f[13]! + f[14]! : 0)) / TICKS_PER_SECOND;
}

/** The bench process itself: it is the agent-protocol client, the BullMQ worker and the execa loop. */
export const benchProcess = (): CpuSource => ({ label: 'bench process', pid: process.pid });

/** The redis-server a client talks to, by the pid it reports (INFO server), for its CPU. */
export async function redisSource(client: Redis): Promise<CpuSource> {
  const info = String(await client.info('server'));
  const pid = Number(/^process_id:(\d+)/m.exec(info)?.[1]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error('redis INFO server gave no process_id');
  return { label: 'redis', pid };
}

export interface CpuSpent {
  /** Seconds over all sources. */
  total: number;
  /** Seconds per source label. */
  by: Record<string, number>;
}

/** Starts counting; `stop()` answers the CPU each source used since. */
export async function startCpuMeter(sources: CpuSource[]): Promise<{ stop(): Promise<CpuSpent> }> {
  const read = () => Promise.all(sources.map((s) => cpuSecondsOf(s.pid, s.children)));
  const before = await read();
  return {
    async stop() {
      const after = await read();
      const by: Record<string, number> = {};
      sources.forEach((s, i) => (by[s.label] = (by[s.label] ?? 0) + after[i]! - before[i]!));
      return { total: Object.values(by).reduce((a, b) => a + b, 0), by };
    },
  };
}

/** µs per unit of work, and each source's share rounded for results.json. */
export function perUnit(spent: CpuSpent, units: number, scale = 1e6): { total: number; by: Record<string, number> } {
  const by = Object.fromEntries(Object.entries(spent.by).map(([k, v]) => [k, Math.round((v * scale) / units)]));
  return { total: (spent.total * scale) / units, by };
}

/**
 * CPU seconds the whole machine has spent busy so far (every core: user, nice, system, irq, softirq,
 * steal; from /proc/stat): for work spread over processes that come and go, such as a fleet's updates.
 */
export async function machineBusySeconds(): Promise<number> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n', 1)[0]!;
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) / TICKS_PER_SECOND;
}
