// The one way tests wait: a bounded poll of a condition the test can observe (a job state, a log line,
// a file, a count). Processes run on their own clocks, so a test waits for what it needs to see, never
// for a fixed time; the bound only turns a hang into a failure that says what never happened.

export interface WaitOptions {
  /** How long before giving up (default 30 s: a loaded two-core machine starts processes slowly). */
  timeoutMs?: number;
  /** Pause between probes (default 50 ms). */
  intervalMs?: number;
  /** Extra context for the failure message (log tails, state), computed only on failure. */
  explain?: () => string;
}

/** Thrown by a probe that has seen the awaited thing become impossible (a rollback, a crash): stop waiting now. */
export class WaitAbort extends Error {
  override name = 'WaitAbort';
}

/**
 * Resolves with the probe's first value that is not undefined, null or false. A probe that throws counts
 * as "not yet" (a server still starting refuses connections), its last error going into the timeout
 * message; a WaitAbort ends the wait at once.
 */
export async function waitUntil<T>(what: string, probe: () => T | undefined | null | false | Promise<T | undefined | null | false>, opts: WaitOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const intervalMs = opts.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== null && v !== false) return v;
    } catch (err) {
      if (err instanceof WaitAbort) throw err;
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError ? ` (last error: ${lastError instanceof Error ? lastError.message : String(lastError)})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}${opts.explain ? `\n${opts.explain()}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
