// Memory figures from /proc/meminfo (a gauge: no delta needed).

export interface MemoryFigures {
  totalBytes: number;
  availableBytes: number;
  usedPercent: number;
  swapTotalBytes: number;
  swapUsedBytes: number;
}

/**
 * used = MemTotal − MemAvailable: what new programs could not get without swapping. Kernels before
 * 3.14 lack MemAvailable; MemFree + Buffers + Cached approximates it there.
 */
export function parseMeminfo(text: string): MemoryFigures | null {
  const kb = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9_()]+):\s+(\d+)/.exec(line);
    if (m) kb.set(m[1]!, Number(m[2]) * 1024);
  }
  const total = kb.get('MemTotal');
  if (!total) return null;
  const available = kb.get('MemAvailable') ?? (kb.get('MemFree') ?? 0) + (kb.get('Buffers') ?? 0) + (kb.get('Cached') ?? 0);
  const swapTotal = kb.get('SwapTotal') ?? 0;
  const swapFree = kb.get('SwapFree') ?? 0;
  return {
    totalBytes: total,
    availableBytes: available,
    usedPercent: Math.round((10_000 * (total - available)) / total) / 100,
    swapTotalBytes: swapTotal,
    swapUsedBytes: Math.max(0, swapTotal - swapFree),
  };
}
