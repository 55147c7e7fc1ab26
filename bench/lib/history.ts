// bench/history.jsonl: one line per run (commit, date, machine, load before and after, every figure with
// its per-round values), appended and kept in git, so a figure can be followed across commits and a
// change in it told apart from a change in the machine or its load.
import { execFileSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { ratio, type Row } from './report.js';

export const historyFile = fileURLToPath(new URL('../history.jsonl', import.meta.url));

export interface Machine {
  cpus: number;
  model: string;
  memGiB: number;
  node: string;
  redis: string;
}

export function machine(): Machine {
  return { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', memGiB: +(totalmem() / 2 ** 30).toFixed(1), node: process.version, redis: redisVersion() };
}

function redisVersion(): string {
  try {
    return /v=(\S+)/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
  } catch {
    return 'not installed';
  }
}

/** The checkout's commit, and whether its tree differs from it (figures from uncommitted code say so). */
export function commitOf(root: string): { commit: string; dirty: boolean } {
  const git = (...args: string[]) => execFileSync('git', ['-C', root, ...args], { encoding: 'utf8' }).trim();
  try {
    return { commit: git('rev-parse', 'HEAD'), dirty: git('status', '--porcelain', '--untracked-files=no', '--', '.', ':(exclude)bench/history.jsonl').length > 0 };
  } catch {
    return { commit: 'unknown', dirty: false };
  }
}

export interface HistoryEntry {
  date: string;
  commit: string;
  dirty: boolean;
  quick: boolean;
  rounds: number;
  /** With --compare: the other commit, and the per-figure differences printed. */
  compare?: { rev: string; commit: string; figures: unknown[] };
  seconds: number;
  machine: Machine;
  load: { before: number; after: number };
  figures: unknown[];
}

/** Only what follows a figure over time: no sample summaries or CPU breakdowns (results.json has those). */
export function historyFigures(rows: Row[]): unknown[] {
  return rows.map((r) => ({
    bench: r.bench,
    figure: r.figure,
    unit: r.unit,
    ours: r.ours,
    anchor: r.anchor,
    anchorName: r.anchorName,
    ratio: ratio(r),
    spread: r.rounds?.ratio ? { min: r.rounds.ratio.min, max: r.rounds.ratio.max, q1: r.rounds.ratio.q1, q3: r.rounds.ratio.q3 } : null,
    conclusive: r.rounds?.conclusive ?? null,
    met: r.met,
    cpu: r.cpu ?? null,
    rounds: r.rounds ? { n: r.rounds.n, ours: r.rounds.values.ours, anchor: r.rounds.values.anchor } : null,
  }));
}

export function appendHistory(entry: HistoryEntry): void {
  appendFileSync(historyFile, JSON.stringify(entry) + '\n');
}
