// What every benchmark module exports: a name and a run that starts its own services and returns rows.
import { fileURLToPath } from 'node:url';
import type { Row } from './report.js';

export interface BenchContext {
  /** The smaller version: every figure, fewer samples, the whole run under a minute. */
  quick: boolean;
  /** Progress and side figures (printed as the run goes, kept in results.json). */
  log(message: string): void;
  /** Extra detail for results.json (raw summaries, settings used). */
  detail(key: string, value: unknown): void;
}

export interface Figure {
  name: string;
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
