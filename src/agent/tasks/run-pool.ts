// A bounded pool for light tasks: p-limit runs `concurrency` at once and at most `queue` wait;
// beyond that the call is refused at once with 429, so overload is a clear answer, never a hang.
import pLimit from 'p-limit';
import { OverloadedError } from '../../shared/errors.js';

export interface RunPool {
  /** Runs `fn` in a slot, or throws OverloadedError synchronously-fast when the queue is full. */
  run<T>(fn: () => Promise<T>): Promise<T>;
  active(): number;
  queued(): number;
}

export function createRunPool(opts: { concurrency: number; queue: number; retryAfterSec?: number }): RunPool {
  const limit = pLimit(opts.concurrency);
  return {
    run<T>(fn: () => Promise<T>): Promise<T> {
      // Checked and enqueued in the same tick, so concurrent callers cannot both take the last place.
      if (limit.activeCount + limit.pendingCount >= opts.concurrency + opts.queue) {
        return Promise.reject(
          new OverloadedError(`light task pool full (${opts.concurrency} running, ${opts.queue} queued); retry later`, opts.retryAfterSec ?? 1),
        );
      }
      return limit(fn);
    },
    active: () => limit.activeCount,
    queued: () => limit.pendingCount,
  };
}
