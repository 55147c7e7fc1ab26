// Load averages from /proc/loadavg.

export interface LoadAverages {
  load1: number;
  load5: number;
  load15: number;
}

export function parseLoadavg(text: string): LoadAverages | null {
  const [a, b, c] = text.trim().split(/\s+/).map(Number);
  if (![a, b, c].every((n) => typeof n === 'number' && Number.isFinite(n))) return null;
  return { load1: a!, load5: b!, load15: c! };
}
