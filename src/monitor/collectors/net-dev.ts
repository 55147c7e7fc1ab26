// Network counters per interface from /proc/net/dev, and rates between two readings.

export interface NetCounters {
  rxBytes: number;
  rxPackets: number;
  rxErrors: number;
  rxDrops: number;
  txBytes: number;
  txPackets: number;
  txErrors: number;
  txDrops: number;
}

export interface NetFigures {
  rxBytesPerSec: number;
  txBytesPerSec: number;
  rxPacketsPerSec: number;
  txPacketsPerSec: number;
  /** Errors and drops are counts within the interval: any non-zero value is worth a look. */
  rxErrors: number;
  txErrors: number;
  rxDrops: number;
  txDrops: number;
}

/**
 * Two header lines, then `name: 8 receive counters, 8 transmit counters`. The split is at the first
 * colon because older kernels print `eth0:123` with no space once the counter grows wide. `lo` is skipped.
 */
export function parseNetDev(text: string): Map<string, NetCounters> {
  const out = new Map<string, NetCounters>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (name === '' || name === 'lo' || name.includes('|')) continue;
    const n = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (n.length < 16 || n.some((x) => !Number.isFinite(x))) continue;
    out.set(name, {
      rxBytes: n[0]!,
      rxPackets: n[1]!,
      rxErrors: n[2]!,
      rxDrops: n[3]!,
      txBytes: n[8]!,
      txPackets: n[9]!,
      txErrors: n[10]!,
      txDrops: n[11]!,
    });
  }
  return out;
}

const round = (n: number): number => Math.round(n * 100) / 100;

/** Rates per interface in both readings; an interface whose counters went backwards is left out. */
export function netDelta(prev: Map<string, NetCounters>, cur: Map<string, NetCounters>, elapsedMs: number): Record<string, NetFigures> {
  const out: Record<string, NetFigures> = {};
  if (elapsedMs <= 0) return out;
  const sec = elapsedMs / 1000;
  for (const [name, c] of cur) {
    const p = prev.get(name);
    if (!p) continue;
    const d = {} as NetCounters;
    let backwards = false;
    for (const k of Object.keys(c) as (keyof NetCounters)[]) {
      d[k] = c[k] - p[k];
      if (d[k] < 0) backwards = true;
    }
    if (backwards) continue;
    out[name] = {
      rxBytesPerSec: round(d.rxBytes / sec),
      txBytesPerSec: round(d.txBytes / sec),
      rxPacketsPerSec: round(d.rxPackets / sec),
      txPacketsPerSec: round(d.txPackets / sec),
      rxErrors: d.rxErrors,
      txErrors: d.txErrors,
      rxDrops: d.rxDrops,
      txDrops: d.txDrops,
    };
  }
  return out;
}
