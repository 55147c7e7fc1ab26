// The one place that decides what a failed controller call means (retry it, stop the job's work,
// register again or resend the log from another offset), and how patiently each caller retries: the
// schedules withRetry (retry.ts) is given, named here so they can be read and tuned side by side.
import { HttpAgentError } from './errors.js';
import type { Backoff } from './retry.js';

/**
 * retry: transient (network, 5xx, 429) · stale: 409 STALE_EPOCH (another attempt owns the job) or
 * 404 JOB_NOT_FOUND (it expired): stop that job's work and report nothing · reregister: 404 AGENT_UNKNOWN,
 * the controller forgot us · resync: 416, resend the log from the offset the controller names · fail:
 * anything else, a bug or a refusal that will not change.
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

/**
 * 401 CREDENTIAL_REVOKED: the platform revoked this agent (DELETE /v1/agents/:id). Not a retry
 * decision: every loop treats it as a refusal ('fail'), and the agent stops calling altogether.
 */
export function credentialRevoked(err: unknown): boolean {
  return err instanceof HttpAgentError && err.code === 'CREDENTIAL_REVOKED';
}

/** 401 UNAUTHORIZED: the controller does not take the bearer (an enrollment token, or a credential it never issued). */
export function unauthorized(err: unknown): boolean {
  return err instanceof HttpAgentError && err.statusCode === 401 && err.code !== 'CREDENTIAL_REVOKED';
}

/** For a 416 reply: the offset the controller expects the next byte at. */
export function expectedOffset(err: unknown): number | undefined {
  const v = err instanceof HttpAgentError ? err.details?.expected : undefined;
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined;
}

/** A caller's schedule: its backoff, and how many failures in a row it gives up after (if ever). */
export interface RetrySchedule {
  backoff?: Backoff;
  maxAttempts?: number;
}

/**
 * Every caller's schedule. The agent's loops retry until they succeed or the agent stops: a result or a
 * claim abandoned is a job lost or re-run. Refusals that will not fix themselves (a bad token, say) are
 * retried too, but slowly, since an operator may fix the controller meanwhile.
 */
export const RETRY = {
  /** A claim the controller did not answer: the agent's slots sit idle meanwhile, so come back soon. */
  claim: { backoff: { baseMs: 100, capMs: 5_000 } },
  claimRefused: { backoff: { baseMs: 100, capMs: 30_000 } },
  /** A claim retried after claiming stopped only recovers what its claimId got: quick tries. */
  claimStopping: { backoff: { baseMs: 200, capMs: 200 } },
  register: { backoff: { baseMs: 200, capMs: 5_000 } },
  registerRefused: { backoff: { baseMs: 200, capMs: 30_000 } },
  /** Enrollment: the controller may come up after the agent; a refused token waits for an operator, so slowly. */
  enroll: { backoff: { baseMs: 500, capMs: 10_000 } },
  enrollRefused: { backoff: { baseMs: 1_000, capMs: 60_000 } },
  /**
   * A heartbeat answered AGENT_UNKNOWN registers and goes again at once, a few times at most; a transient
   * failure is never waited on (the next beat, a third of a lease later, is its retry).
   */
  heartbeat: { maxAttempts: 3 },
  /** Results (one, or a batch): the spool keeps them, so patience costs nothing but the lease. */
  delivery: { backoff: { baseMs: 200, capMs: 5_000 } },
  /** The rest of a finished job's log, before its complete. */
  logShip: { backoff: { baseMs: 100, capMs: 5_000 } },
  /** The log while the job runs: no faster than the streamer batches it. */
  logStream: (batchMs: number): RetrySchedule => ({ backoff: { baseMs: Math.max(1, batchMs), capMs: 5_000 } }),
  /** Step news is a courtesy (the complete carries every step): a few tries, then it is dropped. */
  stepProgress: { backoff: { baseMs: 250, capMs: 2_000 }, maxAttempts: 3 },
  /** The console following a job: ride out a controller restart (about a minute), then say so. */
  cliWait: { backoff: { baseMs: 200, capMs: 3_000 }, maxAttempts: 25 },
  /**
   * The console's submit and retry: a few quick tries, safe only because the console always sends an
   * idempotency key (its own random one unless given), so a reply lost on the wire cannot queue twice.
   */
  cliSubmit: { backoff: { baseMs: 200, capMs: 2_000 }, maxAttempts: 4 },
  /**
   * The monitor's calls: one more try for a blip; its next round (seconds later) is the real retry, so a
   * round waits at most 5 s on a Retry-After.
   */
  monitor: { backoff: { baseMs: 200, capMs: 1_000, maxRetryAfterMs: 5_000 }, maxAttempts: 2 },
} satisfies Record<string, RetrySchedule | ((n: number) => RetrySchedule)>;
