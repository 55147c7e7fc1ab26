// Counts refusals that a hostile peer can cause by the thousand (connections over the cap, requests cut
// off by a timeout) and logs them once per interval instead of once each, so an attack cannot flood the
// log it is being recorded in.
import type { Logger } from '../log.js';

export interface RefusalTally {
  /** One refusal of `kind`; the first of a quiet period is logged at once, the rest in the next summary. */
  note(kind: string): void;
  /** Logs what is still counted and stops the timer. */
  close(): void;
}

export function createRefusalTally(logger: Logger, message: string, intervalMs = 60_000): RefusalTally {
  let counts = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;

  const flush = () => {
    timer = undefined;
    if (counts.size === 0) return;
    logger.warn({ refused: Object.fromEntries(counts), intervalSec: intervalMs / 1000 }, message);
    counts = new Map();
    // Still under attack: the next summary comes one interval later.
    timer = setTimeout(flush, intervalMs).unref();
  };

  return {
    note(kind) {
      if (timer === undefined) {
        // Quiet until now: say so at once, then summarise.
        logger.warn({ refused: { [kind]: 1 } }, message);
        timer = setTimeout(flush, intervalMs).unref();
        return;
      }
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
    },
    close() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (counts.size > 0) logger.warn({ refused: Object.fromEntries(counts) }, message);
      counts = new Map();
    },
  };
}
