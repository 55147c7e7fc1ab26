// What every benchmark module exports: a name and a run that starts its own services and returns rows.
import { fileURLToPath } from 'node:url';
import type { Row } from './report.js';
import type { RoundsResult } from './rounds.js';

/** A compiled checkout whose dist/ the bench starts controllers and agents from. */
export interface Build {
  /** How the report names it: "working tree" for this checkout, the revision for --compare. */
  label: string;
  /** The checkout's root (its dist/ is what runs). */
  root: string;
}

export interface BenchContext {
  /** The smaller version: every figure, fewer samples and rounds. */
  quick: boolean;
  /** The figure's name (rounds are recorded under it). */
  figure: string;
  /** Interleaved rounds per side (bench/lib/rounds.ts): 5 in a full run, 3 with --quick, or --rounds=N. */
  rounds: number;
  /** This checkout first; with --compare REV, REV's build too, and rounds measure ours on each. */
  builds: Build[];
  /** Keeps a figure's rounds for results.json, bench/history.jsonl and --compare (rounds.ts calls it). */
  recordRounds(result: RoundsResult): void;
  /** Progress and side figures (printed as the run goes, kept in results.json). */
  log(message: string): void;
  /** Extra detail for results.json (raw summaries, settings used). */
  detail(key: string, value: unknown): void;
}

export interface Figure {
  name: string;
  /** Measures in interleaved rounds (bench/lib/rounds.ts), so --compare can run it on two builds. */
  interleaved?: boolean;
  run(ctx: BenchContext): Promise<Row[]>;
}

/** The shipped bench tasks (true, sleep, big-log): the agent's HTTPAGENT_TASKS_DIR in every bench. */
export const benchTasksDir = fileURLToPath(new URL('../tasks', import.meta.url));

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` every `everyMs` until it answers a value, or throws after `timeoutMs`. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}
