// buildController(config, deps): the controller's parts wired together, ready to listen; close() undoes it.
import type { FastifyInstance } from 'fastify';
import { Cluster } from 'ioredis';
import type { ControllerConfig } from '../../src/shared/config/controller-config.js';
import type { Logger } from '../../src/shared/log.js';
import { createAgentDirectory } from './agent-directory.js';
import { createAgentDrain } from './agent-drain.js';
import { createAgentWatch } from './agent-watch.js';
import { createBundleBlobs } from './bundle-blobs.js';
import { defineScripts, type RedisLike } from './commands.js';
import { loadControllerSecrets, type ControllerSecrets } from './controller-secrets.js';
import { createCredentialCheck, DEFAULT_CREDENTIAL_CHECK, type CredentialCheckOptions } from './credential-check.js';
import { createCredentialStore } from './credential-store.js';
import { startDashboardTicker } from './dashboard-ticker.js';
import { followDrains } from './drain-feed.js';
import { createEventHub, createEventLog } from './event-stream.js';
import { buildApp } from './http/app.js';
import { createFleetMetrics } from './fleet-metrics.js';
import { createPlatformAuth } from './http/platform-auth.js';
import { createJobList } from './job-list.js';
import { createJobStore } from './job-store.js';
import { createKeys } from './keys.js';
import { createLeaseStore } from './lease-store.js';
import { createMonitorStore } from './monitor-store.js';
import { createPortTokenMinter } from './port-tokens.js';
import { createReleaseStore } from './release-store.js';
import { followRevocations } from './revocation-feed.js';
import { createRevoker } from './revoker.js';
import { createSessionStore } from './session-store.js';
import { createStatsStore } from './stats-store.js';
import { createSubmitQuota } from './submit-quota.js';
import { createNotifier } from './wake-hub.js';
import { startReaper, type Reaper } from './reaper.js';

export interface ControllerDeps {
  /** The command connection (shared by every request; auto-pipelined). */
  redis: RedisLike;
  /** A second connection used only to subscribe to wake-ups. */
  subscriber: RedisLike;
  logger: Logger;
  /** Read from the files config names when absent (run-controller reads them first, to refuse a bad start early). */
  secrets?: ControllerSecrets;
  /** The credential cache's timings; tests shorten them. */
  credentialCheck?: Partial<CredentialCheckOptions>;
  /**
   * Benchmarks only (bench/lib/unchecked-controller.ts): the agent API takes the agent id from the
   * credential without checking it, to measure what the checks cost. Deliberately not a setting: no
   * config file or environment variable can reach it, only code that builds a controller itself.
   */
  benchmarkWithoutAgentChecks?: boolean;
  /** Where the built dashboard is (tests); defaults to dist/ui of this package. */
  uiDir?: string;
}

export interface Controller {
  app: FastifyInstance;
  reaper: Reaper;
  /** Claims waiting in a long-poll right now: a test seam, so tests wait for a waiter instead of sleeping. */
  readonly waitingClaims: number;
  /** Agent channels open right now: a test seam, as waitingClaims. */
  readonly openChannels: number;
  /** Stops the reaper, releases waiting claims and closes the server; the Redis connections are the caller's. */
  close(): Promise<void>;
}

export async function buildController(config: ControllerConfig, deps: ControllerDeps): Promise<Controller> {
  const secrets = deps.secrets ?? loadControllerSecrets(config);
  const keys = createKeys(config.keyPrefix);
  const run = defineScripts(deps.redis);
  const logger = deps.logger;
  if (secrets.enrollTokens.length === 0) logger.warn('no enrollment token (enrollToken, enrollTokenFile): new agents cannot enroll');
  if (deps.benchmarkWithoutAgentChecks) logger.warn('BENCHMARK MODE: agent credentials and agent ids are not checked');
  const notifier = await createNotifier(deps.subscriber, keys.wakeChannel, logger.child({ component: 'notifier' }));
  const credentials = createCredentialStore(deps.redis, keys);
  const credentialCheck = createCredentialCheck(credentials, { ...DEFAULT_CREDENTIAL_CHECK, ...deps.credentialCheck }, logger.child({ component: 'credentials' }));
  const revocations = await followRevocations(deps.subscriber, keys.revokeChannel, credentialCheck, logger.child({ component: 'revocations' }));
  const portTokens = createPortTokenMinter(secrets.signingKeys);
  const jobs = createJobStore(deps.redis, run, keys, { retentionSec: config.retentionSec, defaultMaxAttempts: config.maxAttempts, local: notifier });
  const leases = createLeaseStore(run, keys, {
    leaseMs: config.leaseMs,
    retentionSec: config.retentionSec,
    logCapBytes: config.logCapBytes,
    offlineAfterMs: config.offlineAfterMs,
    reapInClaim: 16,
    redis: deps.redis,
  });
  const events = createEventLog(deps.redis, keys);
  // XREAD BLOCK holds a connection: the event tail gets its own, made like the command one (the two
  // branches differ only in type: Redis and Cluster's duplicate() signatures do not unify).
  const connectTail = (): RedisLike => {
    const tail: RedisLike = deps.redis instanceof Cluster ? deps.redis.duplicate() : deps.redis.duplicate();
    tail.on('error', (err: Error) => logger.debug({ err: err.message }, 'event tail connection error'));
    return tail;
  };
  const hub = createEventHub(connectTail, events, keys, logger.child({ component: 'events' }));
  const monitor = createMonitorStore(
    deps.redis,
    run,
    keys,
    { retentionSec: config.retentionSec, quotaBytesPerMin: config.monitorQuotaBytesPerMin, historyMaxBytes: config.monitorHistoryMaxBytes },
    events,
  );
  const agents = createAgentDirectory(deps.redis, keys, credentials, { offlineAfterMs: config.offlineAfterMs });
  // A drain or resume made on any controller: the waiting-reason reading is dropped, and the agent's claims
  // waiting here stop taking wakes (drained) or claim now (resumed).
  const drainFeed = await followDrains(
    deps.subscriber,
    keys.drainChannel,
    ({ agentId, drained }) => {
      agents.forget();
      notifier.drainChanged(agentId, drained);
    },
    logger.child({ component: 'drains' }),
  );
  const stats = createStatsStore(deps.redis, keys);
  const redisNow = async () => {
    const [sec, micro] = (await deps.redis.call('TIME')) as [string, string];
    return Number(sec) * 1000 + Math.floor(Number(micro) / 1000);
  };
  const sessions = createSessionStore(deps.redis, keys, { ttlSec: config.sessionTtlSec });
  const bundleBlobs = createBundleBlobs(config, secrets.releaseS3);
  if (bundleBlobs) logger.info({ store: bundleBlobs.where, keep: config.releaseKeep }, 'release channel on');
  const built = buildApp(config, {
    redis: deps.redis,
    logger,
    jobs,
    jobList: createJobList(deps.redis, keys),
    stats,
    now: redisNow,
    agents,
    drains: createAgentDrain(deps.redis, keys, events, { retentionSec: config.retentionSec, offlineAfterMs: config.offlineAfterMs }),
    monitor,
    leases,
    notifier,
    events,
    hub,
    sessions,
    longPollMs: config.longPollMs,
    logChunkMaxBytes: config.logChunkMaxBytes,
    portKeys: portTokens.portKeys,
    submitQuota: createSubmitQuota(deps.redis, keys, config.agentSubmitPerMin),
    credentials,
    credentialCheck,
    portTokens,
    revoker: createRevoker(run, keys, { retentionSec: config.retentionSec }),
    fleetMetrics: createFleetMetrics(run, keys, { offlineAfterMs: config.offlineAfterMs }),
    metricsPublic: config.metricsPublic,
    releases: createReleaseStore(deps.redis, run, keys, {
      blobs: bundleBlobs,
      maxBytes: config.releaseMaxBytes,
      keep: config.releaseKeep,
      allowedSigners: config.releaseAllowedSigners,
      logger: logger.child({ component: 'releases' }),
    }),
    auth: {
      platform: createPlatformAuth({ platformToken: config.platformToken, viewerToken: config.viewerToken }, sessions),
      enrollTokens: secrets.enrollTokens,
      credentials: credentialCheck,
      ...(deps.benchmarkWithoutAgentChecks ? { skipAgentChecks: true } : {}),
    },
  }, deps.uiDir);
  const { app } = built;
  // Waiting claims answer empty at once on shutdown instead of holding the close for a long-poll.
  app.addHook('preClose', async () => notifier.releaseAll());
  const watch = createAgentWatch(deps.redis, keys, events, { offlineAfterMs: config.offlineAfterMs });
  const ticker = startDashboardTicker(
    { now: redisNow, checkAgents: watch.check, sampleDepth: stats.sampleDepth },
    { intervalMs: 1000, depthEvery: 5 },
    logger.child({ component: 'dashboard' }),
  );
  const reaper = startReaper(run, keys, { intervalMs: config.reapIntervalMs, retentionSec: config.retentionSec, batch: 200 }, logger.child({ component: 'reaper' }));
  await app.ready();

  let closing: Promise<void> | undefined;
  return {
    app,
    reaper,
    get waitingClaims() {
      return notifier.waiting;
    },
    get openChannels() {
      return built.openChannels;
    },
    close: () =>
      (closing ??= (async () => {
        await reaper.stop();
        await ticker.stop();
        await hub.close();
        await app.close();
        revocations.close();
        drainFeed.close();
        await notifier.close();
        bundleBlobs?.close();
      })()),
  };
}
