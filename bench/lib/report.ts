// The benchmark table: one row per figure, ours beside the anchor measured in the same run, as the median
// over interleaved rounds (bench/lib/rounds.ts) with the spread of the per-round ratios and CPU per job.

export interface RoundStats {
  /** Rounds per side. */
  n: number;
  /** Per-round values of each side (the anchor's null when the row has none). */
  values: { ours: number[]; anchor: number[] | null };
  /** Per-round ratios ours/anchor, and their median, min–max and quartiles; null without an anchor. */
  ratios: number[] | null;
  ratio: { median: number; min: number; max: number; q1: number; q3: number } | null;
  /** False when the spread is too wide to conclude (see rounds.ts); null without an anchor. */
  conclusive: boolean | null;
  met?: boolean | null;
}

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
  /** Figures measured in interleaved rounds; absent for single-run figures. */
  rounds?: RoundStats;
  /** CPU per unit of work of the processes involved, ours and the anchor's (medians over rounds). */
  cpu?: { ours: number; anchor: number | null; unit: string };
}

/** The median per-round ratio for rounds figures, else the ratio of the two numbers. */
export function ratio(row: Row): number | null {
  if (row.rounds?.ratio) return row.rounds.ratio.median;
  if (row.ours === null || row.anchor === null || row.anchor === 0) return null;
  return row.ours / row.anchor;
}

function fmt(x: number | null, digits = 2): string {
  if (x === null || !Number.isFinite(x)) return '—';
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString('en-US');
  return x.toFixed(digits);
}

function spread(r: Row): string {
  if (r.rounds?.ratio) return `${r.rounds.ratio.min.toFixed(3)}–${r.rounds.ratio.max.toFixed(3)}`;
  if (r.rounds && r.rounds.n > 1) return `${fmt(Math.min(...r.rounds.values.ours))}–${fmt(Math.max(...r.rounds.values.ours))} ${r.unit}`;
  return '—';
}

function cpu(r: Row): string {
  if (!r.cpu) return '—';
  return `${fmt(r.cpu.ours, r.cpu.ours >= 10 ? 0 : 2)}${r.cpu.anchor === null ? '' : ` / ${fmt(r.cpu.anchor, r.cpu.anchor >= 10 ? 0 : 2)}`} ${r.cpu.unit}`;
}

/**
 * Columns: both sides' medians, the median per-round ratio and its min–max, rounds, CPU per unit of work
 * (ours / anchor), target, met ("unclear" when the rounds straddle the target).
 */
export function renderTable(rows: Row[]): string {
  const header = ['bench', 'figure', 'httpagent', 'anchor', 'ratio (median)', 'spread (min–max)', 'rounds', 'CPU ours / anchor', 'target', 'met'];
  const lines = rows.map((r) => [
    r.bench,
    `${r.figure} (${r.unit})`,
    fmt(r.ours),
    r.anchor === null ? '—' : `${fmt(r.anchor)} ${r.anchorName ?? ''}`.trim(),
    fmt(ratio(r), 3),
    spread(r),
    String(r.rounds?.n ?? 1),
    cpu(r),
    r.target,
    r.met === null ? '' : r.rounds?.conclusive === false ? 'unclear' : r.met ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  return [line(header), '| ' + widths.map((w) => '-'.repeat(w)).join(' | ') + ' |', ...lines.map(line)].join('\n');
}
