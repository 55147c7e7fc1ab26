// The benchmark table: one row per figure, ours beside the anchor measured in the same run.

export interface Row {
  /** Benchmark group, e.g. "pickup". */
  bench: string;
  figure: string;
  unit: string;
  ours: number | null;
  anchor: number | null;
  anchorName: string | null;
  /** How the target reads, e.g. "≤ 2 ms" or "ratio ≥ 1.0". */
  target: string;
  /** Whether ours meets the target (null when not applicable). */
  met: boolean | null;
  note?: string;
}

export function ratio(row: Row): number | null {
  if (row.ours === null || row.anchor === null || row.anchor === 0) return null;
  return row.ours / row.anchor;
}

function fmt(x: number | null, digits = 2): string {
  if (x === null || !Number.isFinite(x)) return '—';
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString('en-US');
  return x.toFixed(digits);
}

export function renderTable(rows: Row[]): string {
  const header = ['bench', 'figure', 'httpagent', 'anchor', 'ratio', 'target', 'met'];
  const lines = rows.map((r) => [
    r.bench,
    `${r.figure} (${r.unit})`,
    fmt(r.ours),
    r.anchor === null ? '—' : `${fmt(r.anchor)} ${r.anchorName ?? ''}`.trim(),
    fmt(ratio(r), 3),
    r.target,
    r.met === null ? '' : r.met ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  return [line(header), '| ' + widths.map((w) => '-'.repeat(w)).join(' | ') + ' |', ...lines.map(line)].join('\n');
}
