// The one place that decides what a failed controller call means: retry it, stop the job's work,
// register again or resend the log from another offset. Everything else in the agent asks here.
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpAgentError } from './errors.js';

/**
 * retry: transient (network, 5xx, 429) · stale: 409 STALE_EPOCH (another attempt owns the job) or
 * 404 JOB_NOT_FOUND (it expired): stop that job's work and report nothing · reregister: 404 AGENT_UNKNOWN, the controller forgot us · resync: 416, resend the log
 * from the offset the controller names · fail: anything else, a bug or a refusal that will not change.
 */
export type RetryDecision = 'retry' | 'stale' | 'reregister' | 'resync' | 'fail';

export function decide(err: unknown): RetryDecision {
  if (!(err instanceof HttpAgentError)) return 'fail';
  if (err.code === 'STALE_EPOCH' || err.code === 'JOB_NOT_FOUND' || err.statusCode === 409) return 'stale';
  if (err.code === 'AGENT_UNKNOWN') return 'reregister';
  if (err.statusCode === 416) return 'resync';
  if (err.code === 'CONTROLLER_UNREACHABLE' || err.statusCode === 429 || err.statusCode >= 500) return 'retry';
  return 'fail';
}

/** For a 416 reply: the offset the controller expects the next byte at. */
export function expectedOffset(err: unknown): number | undefined {
  const v = err instanceof HttpAgentError ? err.details?.expected : undefined;
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined;
}

export interface BackoffOptions {
  baseMs?: number;
  capMs?: number;
}

/**
 * Capped exponential backoff with full jitter: agents that lost the controller together do not all
 * come back in the same millisecond when it returns.
 */
export function backoffMs(attempt: number, opts: BackoffOptions = {}): number {
  const base = opts.baseMs ?? 100;
  const cap = opts.capMs ?? 5_000;
  const ceiling = Math.min(cap, base * 2 ** Math.min(attempt, 20));
  return Math.round(base / 2 + Math.random() * (ceiling - base / 2));
}

export interface RetryOptions extends BackoffOptions {
  /** Stop retrying when aborted (the agent is stopping); the last error is thrown. */
  signal?: AbortSignal;
  /** Give up after this many tries (default: never). */
  maxAttempts?: number;
  /** Told of each retry, for logs and metrics. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/** Runs `fn` until it succeeds or fails with something other than a 'retry' decision. */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (decide(err) !== 'retry' || opts.signal?.aborted) throw err;
      if (opts.maxAttempts !== undefined && attempt + 1 >= opts.maxAttempts) throw err;
      const hinted = err instanceof HttpAgentError ? err.details?.retryAfterMs : undefined;
      const delay = typeof hinted === 'number' ? Math.min(hinted, opts.capMs ?? 5_000) : backoffMs(attempt, opts);
      opts.onRetry?.(err, attempt, delay);
      try {
        await sleep(delay, undefined, { signal: opts.signal });
      } catch {
        throw err; // aborted while waiting: surface the real failure, not the abort
      }
    }
  }
}
