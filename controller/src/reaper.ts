// The sweeper: a few times a second each controller re-delivers or fails jobs whose lease expired.
// The script is atomic, so several controllers sweeping the same Redis never handle a job twice.
import type { Logger } from '../../src/shared/log.js';
import type { RunScript } from './commands.js';
import type { Keys } from './keys.js';

export interface Reaper {
  /** One sweep; returns how many expired leases it handled. */
  sweep(): Promise<number>;
  stop(): Promise<void>;
}

export function startReaper(run: RunScript, keys: Keys, opts: { intervalMs: number; retentionSec: number; batch: number }, logger: Logger): Reaper {
  let stopped = false;
  let running: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  let failing = false;

  const sweep = async (): Promise<number> => {
    let total = 0;
    // Drain a backlog (many agents died at once) in bounded bites rather than one long script.
    for (let i = 0; i < 20; i++) {
      const { expired: n } = await run('reap', [keys.base, keys.leases, keys.selectors, keys.recent], {
        limit: opts.batch,
        retentionSec: opts.retentionSec,
        wakeChannel: keys.wakeChannel,
        // A few named job indexes a sweep, at random: each is trimmed every few seconds however many there are.
        trimIndexes: i === 0 ? 10 : 0,
      });
      total += n;
      if (n < opts.batch) break;
    }
    if (total > 0) logger.info({ expired: total }, 'expired leases reaped');
    return total;
  };

  const tick = (): void => {
    if (stopped) return;
    running = sweep()
      .then(() => {
        if (failing) logger.info('lease sweeps work again');
        failing = false;
      })
      .catch((err: Error) => {
        // Say it once per outage, not four times a second.
        if (!failing) logger.warn({ err: err.message }, 'lease sweep failed; retrying');
        failing = true;
      })
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, opts.intervalMs);
      });
  };
  timer = setTimeout(tick, opts.intervalMs);

  return {
    sweep,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
