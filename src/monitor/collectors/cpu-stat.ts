// CPU time counters from /proc/stat and the percentages between two readings.

/** The aggregate `cpu` line, in USER_HZ ticks. guest/guestNice are already inside user/nice. */
export interface CpuTimes {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
  guest: number;
  guestNice: number;
}

export interface CpuFigures {
  busyPercent: number;
  userPercent: number;
  systemPercent: number;
  iowaitPercent: number;
  stealPercent: number;
}

const FIELDS = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal', 'guest', 'guestNice'] as const;

/** Reads the aggregate `cpu ` line; fields a kernel does not print (old ones lack steal/guest) are 0. */
export function parseProcStat(text: string): CpuTimes | null {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return null;
  const nums = line.trim().split(/\s+/).slice(1).map(Number);
  if (nums.length < 4 || nums.some((n) => !Number.isFinite(n))) return null;
  const out = {} as CpuTimes;
  FIELDS.forEach((f, i) => (out[f] = nums[i] ?? 0));
  return out;
}

/** Everything the CPUs did, without guest time (counted in user/nice already). */
export function cpuTotal(t: CpuTimes): number {
  return t.user + t.nice + t.system + t.idle + t.iowait + t.irq + t.softirq + t.steal;
}

const round = (n: number): number => Math.round(n * 100) / 100;

/**
 * Percentages over the interval between two readings, or null when the interval says nothing
 * (no ticks passed) or a counter went backwards (CPU hot-plug removes a CPU's ticks from the sum).
 * iowait is the exception: the kernel documents that it may decrease, so its delta is clamped to 0.
 */
export function cpuDelta(prev: CpuTimes, cur: CpuTimes): CpuFigures | null {
  const d = {} as CpuTimes;
  for (const f of FIELDS) d[f] = cur[f] - prev[f];
  if (d.iowait < 0) d.iowait = 0;
  if (FIELDS.some((f) => d[f] < 0)) return null;
  const total = cpuTotal(d);
  if (total <= 0) return null;
  const pct = (n: number): number => round((100 * n) / total);
  return {
    busyPercent: pct(total - d.idle - d.iowait),
    // user and nice both count as user time, as top and node_exporter's "user" + "nice" do.
    userPercent: pct(d.user + d.nice),
    systemPercent: pct(d.system + d.irq + d.softirq),
    iowaitPercent: pct(d.iowait),
    stealPercent: pct(d.steal),
  };
}
