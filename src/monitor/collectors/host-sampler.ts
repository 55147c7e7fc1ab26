// Takes one host sample: reads /proc, keeps the previous counters, and turns the two into rates.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpuDelta, parseProcStat, type CpuFigures, type CpuTimes } from './cpu-stat.js';
import { diskDelta, parseDiskstats, type DiskCounters, type DiskFigures } from './diskstats.js';
import { readFilesystems, type FsFigures } from './filesystems.js';
import { parseLoadavg, type LoadAverages } from './loadavg.js';
import { parseMeminfo, type MemoryFigures } from './meminfo.js';
import { netDelta, parseNetDev, type NetCounters, type NetFigures } from './net-dev.js';

/** One sample as sent to the controller (a HostSample: `ts` plus figures). */
export interface HostFigures {
  ts: number;
  /** ms the rates cover; null on the first sample, which has no rates yet. */
  intervalMs: number | null;
  cpu: CpuFigures | null;
  load: LoadAverages | null;
  memory: MemoryFigures | null;
  disks: Record<string, DiskFigures>;
  net: Record<string, NetFigures>;
  filesystems: Record<string, FsFigures>;
}

export interface RawReading {
  /** Monotonic ms: rates must not jump when the wall clock is stepped. */
  mono: number;
  cpu: CpuTimes | null;
  disks: Map<string, DiskCounters>;
  net: Map<string, NetCounters>;
}

export interface SamplerOptions {
  /** /proc, or a fixture directory with the same file names (net/dev as net-dev is accepted too). */
  procRoot?: string;
  mounts?: readonly string[];
  now?: () => number;
  monoNow?: () => number;
}

/**
 * Devices and interfaces kept per sample: a host with hundreds of container veths would otherwise
 * exceed the 64 KiB a sample may take at the controller. Names sort first, so the choice is stable.
 */
export const MAX_ENTRIES = 64;

function cap<T>(rec: Record<string, T>): Record<string, T> {
  const keys = Object.keys(rec);
  if (keys.length <= MAX_ENTRIES) return rec;
  return Object.fromEntries(keys.sort().slice(0, MAX_ENTRIES).map((k) => [k, rec[k]!]));
}

export interface HostSampler {
  sample(): Promise<HostFigures>;
}

export function createHostSampler(opts: SamplerOptions = {}): HostSampler {
  const root = opts.procRoot ?? '/proc';
  const mounts = opts.mounts ?? ['/'];
  const now = opts.now ?? Date.now;
  const mono = opts.monoNow ?? (() => performance.now());
  let prev: RawReading | undefined;

  // Synchronous reads on purpose: procfs files are generated in memory, a read never waits on a disk,
  // and one readFileSync (~20 µs) is far cheaper than a round trip through libuv's thread pool.
  const read = (name: string): string => {
    try {
      return readFileSync(join(root, name), 'utf8');
    } catch {
      return '';
    }
  };
  const readNetDev = (): string => read('net/dev') || read('net-dev');

  return {
    async sample() {
      const cur: RawReading = {
        mono: mono(),
        cpu: parseProcStat(read('stat')),
        disks: parseDiskstats(read('diskstats')),
        net: parseNetDev(readNetDev()),
      };
      const ts = now();
      const load = parseLoadavg(read('loadavg'));
      const memory = parseMeminfo(read('meminfo'));
      const filesystems = await readFilesystems(mounts);
      const p = prev;
      prev = cur;
      const elapsed = p ? cur.mono - p.mono : 0;
      return {
        ts,
        intervalMs: p ? Math.round(elapsed) : null,
        cpu: p?.cpu && cur.cpu ? cpuDelta(p.cpu, cur.cpu) : null,
        load,
        memory,
        disks: p ? cap(diskDelta(p.disks, cur.disks, elapsed)) : {},
        net: p ? cap(netDelta(p.net, cur.net, elapsed)) : {},
        filesystems,
      };
    },
  };
}
