// Step progress for people watching a job (POST /v1/agent/jobs/:id/step): sent one at a time in
// order, an unsent update replaced by a newer one for the same step, and whatever is unsent when the
// job ends dropped, since the final result carries every step's outcome anyway.
import { RETRY, decide } from '../../shared/retry-policy.js';
import { withRetry } from '../../shared/retry.js';
import type { Logger } from '../../shared/log.js';
import type { StepUpdate } from '../../shared/protocol/agent-api.js';

export type StepProgressUpdate = Omit<StepUpdate, 'epoch'>;

export interface StepProgress {
  report(update: StepProgressUpdate): void;
  /** Drops what is unsent, a retry's wait included; a request in flight finishes on its own. */
  close(): void;
}

/**
 * `holdMs`: news waits this long before it is sent, so a job that ends sooner sends none (its complete
 * carries every step's outcome) and a longer one shows its progress that much later.
 */
export function createStepProgress(send: (update: StepProgressUpdate) => Promise<void>, onStale: () => void, logger: Logger, holdMs = 0): StepProgress {
  const pending = new Map<number, StepProgressUpdate>();
  let sending = false;
  let closed = false;
  let hold: NodeJS.Timeout | undefined;
  // Aborted by close(): an update waiting to be retried is dropped at once.
  const closing = new AbortController();

  const drain = async () => {
    sending = true;
    try {
      for (let next = pending.entries().next(); !closed && !next.done; next = pending.entries().next()) {
        const [index, update] = next.value;
        pending.delete(index);
        try {
          await withRetry(() => send(update), {
            ...RETRY.stepProgress,
            signal: closing.signal,
            // Not worth retrying once newer news for the same step waits: that one goes next instead.
            judge: (err) => (decide(err) === 'retry' && !pending.has(index) ? 'retry' : 'give-up'),
          });
        } catch (err) {
          // A lost update is harmless; a stale epoch means the job is someone else's now.
          if (decide(err) === 'stale') onStale();
          else logger.debug({ err }, 'step progress not delivered');
        }
      }
    } finally {
      sending = false;
    }
  };

  return {
    report(update) {
      if (closed) return;
      pending.delete(update.index); // re-inserted at the end: order follows the latest news
      pending.set(update.index, update);
      if (sending || hold) return;
      if (holdMs <= 0) {
        void drain();
        return;
      }
      hold = setTimeout(() => {
        hold = undefined;
        // Whatever arrives while this drain runs is sent by it; news after it starts a new hold.
        void drain();
      }, holdMs);
      hold.unref();
    },
    close() {
      closed = true;
      closing.abort();
      if (hold) clearTimeout(hold);
      hold = undefined;
      pending.clear();
    },
  };
}
