// Interleaved rounds: a figure measures ours and each anchor in turn, round after round (ours, anchor,
// then anchor, ours: the order flips every round so a drifting machine load falls on both sides), and
// answers every side's per-round measurements. A ratio is then taken per round, between measurements
// made seconds apart, and the figure reports the median of those ratios with their spread, rather than
// one ratio of two runs minutes apart on a machine shared with others.
// With `--compare REV` the anchors give way to the same measurement on the other commit's build.
import type { BenchContext, Build } from './figure.js';
import type { RoundStats, Row } from './report.js';
import { useBuild } from './system.js';

export interface Measurement {
  /** This round's figures, e.g. { median: 1.2, p99: 4.5 } or { rate: 1200 }. */
  values: Record<string, number>;
  /** CPU per unit of work (e.g. µs per job) of the processes that did it, summed (see cpu-time.ts). */
  cpu: number;
  /** Anything else for results.json (CPU by process, sample summaries). */
  detail?: unknown;
}

export type Side = (round: number) => Promise<Measurement>;

export interface RoundsSpec {
  /** Names the measurement in results.json, history and --compare, e.g. "no-op c=1". */
  label: string;
  /** The unit of Measurement.cpu, e.g. "µs/job". */
  cpuUnit: string;
  /** Which way each value is better: --compare says "better" or "worse" by it. */
  better: Record<string, 'higher' | 'lower'>;
  ours: Side;
  anchors: Record<string, Side>;
}

export interface RoundsResult {
  figure: string;
  label: string;
  cpuUnit: string;
  better: Record<string, 'higher' | 'lower'>;
  /** Ours on this checkout's build. */
  ours: Measurement[];
  /** Every anchor by name; empty with --compare. */
  anchors: Record<string, Measurement[]>;
  /** With --compare: ours on each build, by build label (the first is this checkout). */
  builds: Record<string, Measurement[]>;
}

/** Runs the sides of `spec` as ctx.rounds interleaved rounds; records the result for the run's report. */
export async function interleave(ctx: BenchContext, spec: RoundsSpec): Promise<RoundsResult> {
  type Entry = { name: string; build?: Build; run: Side; out: Measurement[] };
  const comparing = ctx.builds.length > 1;
  const sides: Entry[] = comparing
    ? ctx.builds.map((b) => ({ name: `httpagent@${b.label}`, build: b, run: spec.ours, out: [] }))
    : [{ name: 'httpagent', build: ctx.builds[0], run: spec.ours, out: [] }, ...Object.entries(spec.anchors).map(([name, run]) => ({ name, run, out: [] }))];
  for (let r = 0; r < ctx.rounds; r++) {
    const order = r % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) {
      if (side.build) useBuild(side.build.root);
      try {
        const m = await side.run(r);
        side.out.push(m);
        ctx.log(`${spec.label} round ${r + 1}/${ctx.rounds} ${side.name}: ${Object.entries(m.values).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}; CPU ${fmt(m.cpu)} ${spec.cpuUnit}`);
      } finally {
        useBuild(undefined);
      }
    }
  }
  const result: RoundsResult = {
    figure: ctx.figure,
    label: spec.label,
    cpuUnit: spec.cpuUnit,
    better: spec.better,
    ours: sides[0]!.out,
    anchors: comparing ? {} : Object.fromEntries(sides.slice(1).map((s) => [s.name, s.out])),
    builds: comparing ? Object.fromEntries(sides.map((s) => [s.build!.label, s.out])) : {},
  };
  ctx.recordRounds(result);
  return result;
}

const fmt = (x: number): string => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(2));

export function median(xs: number[]): number {
  return quantile(xs, 0.5);
}

/** Linear-interpolated quantile of unsorted samples. */
export function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (pos - lo);
}

export interface RatioTarget {
  op: '≥' | '≤';
  value: number;
  /** The target holds only when every round meets it (not just the median). */
  every?: boolean;
}

/**
 * When a spread is too wide to conclude: with a target, when the rounds fall on both sides of it (one
 * more run could turn the verdict); without one, when the middle half of the rounds spans more than this
 * share of the median.
 */
export const WIDE_IQR = 0.25;
/** Fewer rounds than this say nothing either way: two rounds agree on a direction half the time by chance. */
export const MIN_ROUNDS_TO_CONCLUDE = 3;

const meets = (x: number, t: RatioTarget): boolean => (t.op === '≥' ? x >= t.value : x <= t.value);

export interface RatioStats {
  n: number;
  ratios: number[];
  ratio: NonNullable<RoundStats['ratio']>;
  conclusive: boolean;
  /** Against the target, when there is one. */
  met: boolean | null;
}

/** Per-round ratios ours/anchor, their median, min–max and IQR, and whether they allow a verdict. */
export function ratioStats(ours: number[], anchor: number[], target?: RatioTarget): RatioStats {
  const ratios = ours.map((o, i) => o / anchor[i]!).filter((x) => Number.isFinite(x));
  const m = median(ratios);
  const spread = { min: Math.min(...ratios), max: Math.max(...ratios), q1: quantile(ratios, 0.25), q3: quantile(ratios, 0.75) };
  let conclusive: boolean;
  let met: boolean | null = null;
  if (target) {
    const hits = ratios.filter((r) => meets(r, target)).length;
    met = target.every ? hits === ratios.length : meets(m, target);
    // "Every round" is a verdict on its own; otherwise a mixed set of rounds cannot say.
    conclusive = target.every || hits === 0 || hits === ratios.length;
  } else {
    conclusive = (spread.q3 - spread.q1) / m <= WIDE_IQR;
  }
  if (ratios.length < MIN_ROUNDS_TO_CONCLUDE) conclusive = false;
  return { n: ratios.length, ratios, ratio: { median: m, ...spread }, conclusive, met };
}

export interface RowSpec {
  bench: string;
  figure: string;
  unit: string;
  /** The Measurement.values key this row shows. */
  key: string;
  /** The anchor side to divide by (absent with --compare: the row then shows ours alone). */
  anchor?: string;
  /** How the anchor reads in the table, e.g. "BullMQ" (defaults to its side name). */
  anchorName?: string;
  target: string;
  ratioTarget?: RatioTarget;
  /** A target on ours alone, e.g. 0 bytes lost, checked against `aggregate` over the rounds. */
  absolute?: (ours: number) => boolean;
  /** How ours' rounds fold into the table's one number: the median, or the worst (max) for bounds. */
  aggregate?: 'median' | 'max';
  note?: string;
}

/** One table row from interleaved rounds: medians per side, the median per-round ratio and its spread. */
export function roundsRow(res: RoundsResult, o: RowSpec): Row {
  const ours = res.ours.map((m) => m.values[o.key]!);
  const oursValue = o.aggregate === 'max' ? Math.max(...ours) : median(ours);
  const anchorRounds = o.anchor ? res.anchors[o.anchor] : undefined;
  const anchor = anchorRounds?.map((m) => m.values[o.key]!);
  const stats = anchor ? ratioStats(ours, anchor, o.ratioTarget) : null;
  let met: boolean | null = null;
  if (stats && o.ratioTarget) met = stats.met;
  else if (o.absolute) met = o.absolute(oursValue);
  const notes = [o.note];
  if (stats && !stats.conclusive) {
    notes.push(
      stats.n < MIN_ROUNDS_TO_CONCLUDE
        ? `too few rounds (${stats.n}) to conclude`
        : o.ratioTarget
        ? `spread too wide to conclude: per-round ratios ${stats.ratio.min.toFixed(3)}–${stats.ratio.max.toFixed(3)} lie on both sides of the target`
        : `spread too wide to conclude: per-round ratios ${stats.ratio.min.toFixed(3)}–${stats.ratio.max.toFixed(3)} (IQR over ${WIDE_IQR * 100} % of the median)`,
    );
  }
  const note = notes.filter(Boolean).join('; ');
  return {
    bench: o.bench,
    figure: o.figure,
    unit: o.unit,
    ours: oursValue,
    anchor: anchor ? median(anchor) : null,
    anchorName: anchor ? (o.anchorName ?? o.anchor!) : null,
    target: o.target,
    met,
    rounds: {
      n: ours.length,
      values: { ours, anchor: anchor ?? null },
      ...(stats ?? { ratios: null, ratio: null, conclusive: null }),
    },
    cpu: { ours: median(res.ours.map((m) => m.cpu)), anchor: anchorRounds ? median(anchorRounds.map((m) => m.cpu)) : null, unit: res.cpuUnit },
    ...(note ? { note } : {}),
  };
}
