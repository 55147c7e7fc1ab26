// Disk I/O counters per physical device from /proc/diskstats, and rates between two readings.

export interface DiskCounters {
  readsCompleted: number;
  sectorsRead: number;
  msReading: number;
  writesCompleted: number;
  sectorsWritten: number;
  msWriting: number;
  msDoingIo: number;
}

export interface DiskFigures {
  readBytesPerSec: number;
  writeBytesPerSec: number;
  iops: number;
  utilPercent: number;
  /** Mean ms per completed I/O in the interval; null when none completed. */
  awaitMs: number | null;
}

/**
 * Partitions and virtual devices whose I/O is counted elsewhere or means nothing for the host:
 * node_exporter's default exclusion plus mmcblk partitions. dm-* (LVM, crypt) and md* (RAID) are kept
 * because those are the volumes people reason about; they double-count their disks' I/O, so figures
 * of different devices must not be summed.
 */
const SKIP = /^(?:(?:z?ram|loop|fd|(?:h|s|v|xv)d[a-z]+|nvme\d+n\d+p)\d+|mmcblk\d+p\d+)$/;

export function isReportedDisk(name: string): boolean {
  return !SKIP.test(name);
}

/**
 * Accepts the 14-field (≤ 4.17), 18-field (4.18+, discards) and 20-field (5.5+, flushes) layouts:
 * only the first 11 counters after the name are used. Shorter lines (2.6-era partition lines) are skipped.
 */
export function parseDiskstats(text: string): Map<string, DiskCounters> {
  const out = new Map<string, DiskCounters>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 14) continue;
    const name = f[2]!;
    if (!isReportedDisk(name)) continue;
    const n = f.slice(3, 14).map(Number);
    if (n.some((x) => !Number.isFinite(x))) continue;
    out.set(name, {
      readsCompleted: n[0]!,
      sectorsRead: n[2]!,
      msReading: n[3]!,
      writesCompleted: n[4]!,
      sectorsWritten: n[6]!,
      msWriting: n[7]!,
      msDoingIo: n[9]!,
    });
  }
  return out;
}

/** Sectors in /proc/diskstats are always 512 bytes, whatever the device's own sector size. */
const SECTOR = 512;
const round = (n: number): number => Math.round(n * 100) / 100;

/**
 * Rates per device present in both readings. A device whose counters went backwards (re-attached,
 * reset) is left out of this interval; a device that disappeared is simply absent.
 */
export function diskDelta(prev: Map<string, DiskCounters>, cur: Map<string, DiskCounters>, elapsedMs: number): Record<string, DiskFigures> {
  const out: Record<string, DiskFigures> = {};
  if (elapsedMs <= 0) return out;
  const sec = elapsedMs / 1000;
  for (const [name, c] of cur) {
    const p = prev.get(name);
    if (!p) continue;
    const d = {} as DiskCounters;
    let backwards = false;
    for (const k of Object.keys(c) as (keyof DiskCounters)[]) {
      d[k] = c[k] - p[k];
      if (d[k] < 0) backwards = true;
    }
    if (backwards) continue;
    const ios = d.readsCompleted + d.writesCompleted;
    out[name] = {
      readBytesPerSec: round((d.sectorsRead * SECTOR) / sec),
      writeBytesPerSec: round((d.sectorsWritten * SECTOR) / sec),
      iops: round(ios / sec),
      // io_ticks can run slightly ahead of wall time between two reads; 100 % is the ceiling.
      utilPercent: round(Math.min(100, (100 * d.msDoingIo) / elapsedMs)),
      awaitMs: ios > 0 ? round((d.msReading + d.msWriting) / ios) : null,
    };
  }
  return out;
}
