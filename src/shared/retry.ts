// The one retry primitive: every call that is tried again (claim, register, results, logs, step news,
// heartbeats, the console's waits, the monitor's calls) goes through withRetry, so backoff, jitter,
// Retry-After and stopping at once on abort behave the same everywhere. What a failure means is the
// caller's judge; retry-policy.ts holds the shared classification and the named schedules.
import { decide } from './retry-policy.js';

/** How long to wait between tries: the first delay is at most `baseMs`, each failure doubles it up to `capMs`. */
export interface Backoff {
  baseMs: number;
  capMs: number;
  /**
   * The longest Retry-After obeyed: a reply asking for more is waited this long and tried again (a
   * misconfigured proxy must not park the agent for an hour). Default 60 s.
   */
  maxRetryAfterMs?: number;
}

/** The schedule when a caller names none. */
export const DEFAULT_BACKOFF: Backoff = { baseMs: 100, capMs: 5_000 };

const DEFAULT_MAX_RETRY_AFTER_MS = 60_000;

/**
 * Capped exponential backoff with full jitter over [base/2, ceiling]: agents that lost the controller
 * together do not all come back in the same millisecond when it returns, and the floor keeps a burst of
 * failures from spinning. `random` is there for tests of the bounds.
 */
export function backoffMs(attempt: number, b: Backoff = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const ceiling = Math.min(b.capMs, b.baseMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  const floor = Math.min(b.baseMs / 2, ceiling);
  return Math.round(floor + random() * (ceiling - floor));
}

/** An error that carries the wait its reply asked for (Retry-After), in ms from when the reply came. */
export interface RetryAfterHint {
  readonly retryAfterMs: number | undefined;
}

/** The Retry-After an error carries, if any. */
export function retryAfterOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null || !('retryAfterMs' in err)) return undefined;
  const v = (err as RetryAfterHint).retryAfterMs;
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}

// The three date forms HTTP allows all start with a day name (RFC 9110 §5.6.7); anything else that
// Date.parse would read ("1.5", an ISO date) is not a date here.
const HTTP_DATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? /;

/**
 * A Retry-After header as ms to wait: delay-seconds, or an HTTP date (a date already past is 0).
 * Undefined when absent or malformed.
 */
export function parseRetryAfter(value: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  const s = raw?.trim();
  if (!s) return undefined;
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  if (!HTTP_DATE.test(s)) return undefined;
  // asctime dates name no zone; HTTP dates are always GMT, and Date.parse would read local time.
  const at = Date.parse(/GMT$/.test(s) ? s : `${s} GMT`);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

/**
 * The wait before the next try: the backoff, but never sooner than the reply's Retry-After (itself
 * bounded by `maxRetryAfterMs`).
 */
export function retryDelayMs(err: unknown, attempt: number, b: Backoff = DEFAULT_BACKOFF, random?: () => number): number {
  const wait = backoffMs(attempt, b, random);
  const hint = retryAfterOf(err);
  return hint === undefined ? wait : Math.max(wait, Math.min(hint, b.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS));
}

/**
 * What to do after a failed try.
 * retry: wait (retryDelayMs), then try again · retry-now: try again at once, the judge repaired the
 * cause (registered again, moved to the offset the controller named) · give-up: the error is thrown to
 * the caller, which knows what it means (stale, refused) · { retry }: wait on another schedule (a refusal
 * retried slowly); `afresh` counts this failure as the first again, for a try that got somewhere.
 */
export type RetryVerdict = 'retry' | 'retry-now' | 'give-up' | { retry: Backoff; afresh?: boolean };

export interface RetryOptions {
  backoff?: Backoff;
  /**
   * Told of every failure (with how many came before it in a row); may repair things before answering.
   * Default: retry what `decide` calls transient, give up on anything else.
   */
  judge?: (err: unknown, attempt: number) => RetryVerdict | Promise<RetryVerdict>;
  /** Aborting stops a wait at once and throws the last failure (not an AbortError). */
  signal?: AbortSignal | undefined;
  /** Give up after this many failures in a row (default: never). */
  maxAttempts?: number;
  /** Told before each wait, for logs and metrics. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

const retryTransient = (err: unknown): RetryVerdict => (decide(err) === 'retry' ? 'retry' : 'give-up');

/** Runs `fn` until it succeeds, the judge gives up, `maxAttempts` failures in a row, or `signal` aborts. */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const judge = opts.judge ?? retryTransient;
  for (let attempt = 0; ; ) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      const verdict = await judge(err, attempt);
      if (verdict === 'give-up') throw err;
      if (typeof verdict === 'object' && verdict.afresh) attempt = 0;
      if (opts.maxAttempts !== undefined && attempt + 1 >= opts.maxAttempts) throw err;
      if (verdict === 'retry-now') {
        attempt++;
        continue;
      }
      const delay = retryDelayMs(err, attempt, verdict === 'retry' ? (opts.backoff ?? DEFAULT_BACKOFF) : verdict.retry);
      opts.onRetry?.(err, attempt, delay);
      if (!(await sleep(delay, opts.signal))) throw err;
      attempt++;
    }
  }
}

/** Waits `ms`; resolves false at once if `signal` aborts (before or during), true otherwise. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise<boolean>((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
