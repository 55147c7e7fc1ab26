// buildController(config, deps): the controller's parts wired together, ready to listen; close() undoes it.
import type { FastifyInstance } from 'fastify';
import type { ControllerConfig } from '../../src/shared/config/controller-config.js';
import type { Logger } from '../../src/shared/log.js';
import { createAgentDirectory } from './agent-directory.js';
import { defineScripts, type RedisLike } from './commands.js';
import { buildApp } from './http/app.js';
import { createJobStore } from './job-store.js';
import { createKeys } from './keys.js';
import { createLeaseStore } from './lease-store.js';
import { createMonitorStore } from './monitor-store.js';
import { createNotifier } from './wake-hub.js';
import { startReaper, type Reaper } from './reaper.js';

export interface ControllerDeps {
  /** The command connection (shared by every request; auto-pipelined). */
  redis: RedisLike;
  /** A second connection used only to subscribe to wake-ups. */
  subscriber: RedisLike;
  logger: Logger;
}

export interface Controller {
  app: FastifyInstance;
  reaper: Reaper;
  /** Claims waiting in a long-poll right now: a test seam, so tests wait for a waiter instead of sleeping. */
  readonly waitingClaims: number;
  /** Stops the reaper, releases waiting claims and closes the server; the Redis connections are the caller's. */
  close(): Promise<void>;
}

export async function buildController(config: ControllerConfig, deps: ControllerDeps): Promise<Controller> {
  const keys = createKeys(config.keyPrefix);
  const run = defineScripts(deps.redis);
  const logger = deps.logger;
  const notifier = await createNotifier(deps.subscriber, keys.wakeChannel, logger.child({ component: 'notifier' }));
  const jobs = createJobStore(deps.redis, run, keys, { retentionSec: config.retentionSec, defaultMaxAttempts: config.maxAttempts });
  const leases = createLeaseStore(run, keys, {
    leaseMs: config.leaseMs,
    retentionSec: config.retentionSec,
    logCapBytes: config.logCapBytes,
    reapInClaim: 16,
    redis: deps.redis,
  });
  const monitor = createMonitorStore(deps.redis, run, keys, { retentionSec: config.retentionSec });
  const agents = createAgentDirectory(deps.redis, keys, { offlineAfterMs: config.offlineAfterMs });
  const app = buildApp(config, {
    redis: deps.redis,
    logger,
    jobs,
    agents,
    monitor,
    leases,
    notifier,
    longPollMs: config.longPollMs,
    logChunkMaxBytes: config.logChunkMaxBytes,
  });
  // Waiting claims answer empty at once on shutdown instead of holding the close for a long-poll.
  app.addHook('preClose', async () => notifier.releaseAll());
  const reaper = startReaper(run, keys, { intervalMs: config.reapIntervalMs, retentionSec: config.retentionSec, batch: 200 }, logger.child({ component: 'reaper' }));
  await app.ready();

  let closing: Promise<void> | undefined;
  return {
    app,
    reaper,
    get waitingClaims() {
      return notifier.waiting;
    },
    close: () =>
      (closing ??= (async () => {
        await reaper.stop();
        await app.close();
        await notifier.close();
      })()),
  };
}
