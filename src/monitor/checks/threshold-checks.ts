// CPU, memory and disk-full checks on the latest sample, failing only after the figure has stayed
// over its limit for the hold time (a short compile spike is not an incident).
import type { Observation } from '../alerts/alert-engine.js';
import type { HostFigures } from '../collectors/host-sampler.js';

export interface ThresholdLimits {
  cpuPercent: number;
  memoryPercent: number;
  diskPercent: number;
  holdMs: number;
  /** Mounts whose use is checked (root and the configured ones). */
  mounts: readonly string[];
}

/** When each figure went over its limit; kept between rounds by the caller. */
export type OverSince = Map<string, number>;

function held(over: OverSince, name: string, isOver: boolean, now: number, holdMs: number): boolean {
  if (!isOver) {
    over.delete(name);
    return false;
  }
  const since = over.get(name) ?? now;
  over.set(name, since);
  return now - since >= holdMs;
}

export function thresholdChecks(sample: HostFigures | undefined, limits: ThresholdLimits, over: OverSince, now: number): Observation[] {
  const out: Observation[] = [];
  const cpu = sample?.cpu?.busyPercent;
  const cpuBad = held(over, 'cpu', cpu !== undefined && cpu > limits.cpuPercent, now, limits.holdMs);
  out.push({ name: 'cpu', ok: !cpuBad, detail: cpu === undefined ? 'no figure yet' : `busy ${cpu}% (limit ${limits.cpuPercent}%)` });
  const mem = sample?.memory?.usedPercent;
  const memBad = held(over, 'memory', mem !== undefined && mem > limits.memoryPercent, now, limits.holdMs);
  out.push({ name: 'memory', ok: !memBad, detail: mem === undefined ? 'no figure yet' : `used ${mem}% (limit ${limits.memoryPercent}%)` });
  for (const m of limits.mounts) {
    const name = `disk:${m}`;
    if (!sample) {
      out.push({ name, ok: true, detail: 'no figure yet' });
      continue;
    }
    const fs = sample.filesystems[m];
    if (!fs) {
      over.delete(name);
      out.push({ name, ok: false, detail: `cannot statfs ${m}` });
      continue;
    }
    const bad = held(over, name, fs.usedPercent > limits.diskPercent, now, limits.holdMs);
    out.push({ name, ok: !bad, detail: `used ${fs.usedPercent}% of ${(fs.totalBytes / 2 ** 30).toFixed(1)} GiB (limit ${limits.diskPercent}%)` });
  }
  return out;
}
