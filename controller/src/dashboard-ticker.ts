// Once a second, what the dashboard needs that no write announces: agents that went silent (agent-watch.ts)
// and, every few seconds, the queue depth for the Overview's chart (stats-store.ts).
import type { Logger } from '../../src/shared/log.js';

export interface DashboardTicker {
  stop(): Promise<void>;
}

export function startDashboardTicker(
  work: { now(): Promise<number>; checkAgents(now: number): Promise<unknown>; sampleDepth(now: number): Promise<void> },
  opts: { intervalMs: number; depthEvery: number },
  logger: Logger,
): DashboardTicker {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let ticks = 0;
  let failing = false;
  const tick = () => {
    if (stopped) return;
    running = (async () => {
      const now = await work.now();
      await work.checkAgents(now);
      if (ticks++ % opts.depthEvery === 0) await work.sampleDepth(now);
    })()
      .then(() => {
        failing = false;
      })
      .catch((err: Error) => {
        if (!failing) logger.warn({ err: err.message }, 'dashboard tick failed; retrying');
        failing = true;
      })
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, opts.intervalMs);
      });
  };
  timer = setTimeout(tick, opts.intervalMs);
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
