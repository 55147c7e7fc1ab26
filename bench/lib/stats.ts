// Small statistics for benchmark samples (milliseconds unless said otherwise).

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

export interface Summary {
  n: number;
  median: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

export function summarize(samples: number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  const sum = s.reduce((a, b) => a + b, 0);
  return { n: s.length, median: percentile(s, 50), p99: percentile(s, 99), mean: sum / (s.length || 1), min: s[0] ?? NaN, max: s[s.length - 1] ?? NaN };
}

/** High-resolution wall clock in ms. */
export const now = (): number => Number(process.hrtime.bigint()) / 1e6;

export function round(x: number, digits = 2): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
