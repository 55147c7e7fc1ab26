// buildController(config, deps): the controller's parts wired together, ready to listen; close() undoes it.
import type { FastifyInstance } from 'fastify';
import type { ControllerConfig } from '../../src/shared/config/controller-config.js';
import type { Logger } from '../../src/shared/log.js';
import { createAgentDirectory } from './agent-directory.js';
import { defineScripts, type RedisLike } from './commands.js';
import { loadControllerSecrets, type ControllerSecrets } from './controller-secrets.js';
import { createCredentialCheck, DEFAULT_CREDENTIAL_CHECK, type CredentialCheckOptions } from './credential-check.js';
import { createCredentialStore } from './credential-store.js';
import { buildApp } from './http/app.js';
import { createFleetMetrics } from './fleet-metrics.js';
import { createJobList } from './job-list.js';
import { createJobStore } from './job-store.js';
import { createKeys } from './keys.js';
import { createLeaseStore } from './lease-store.js';
import { createMonitorStore } from './monitor-store.js';
import { createPortTokenMinter } from './port-tokens.js';
import { createReleaseStore } from './release-store.js';
import { followRevocations } from './revocation-feed.js';
import { createRevoker } from './revoker.js';
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
  const jobs = createJobStore(deps.redis, run, keys, { retentionSec: config.retentionSec, defaultMaxAttempts: config.maxAttempts });
  const leases = createLeaseStore(run, keys, {
    leaseMs: config.leaseMs,
    retentionSec: config.retentionSec,
    logCapBytes: config.logCapBytes,
    reapInClaim: 16,
    redis: deps.redis,
  });
  const monitor = createMonitorStore(deps.redis, run, keys, {
    retentionSec: config.retentionSec,
    quotaBytesPerMin: config.monitorQuotaBytesPerMin,
    historyMaxBytes: config.monitorHistoryMaxBytes,
  });
  const agents = createAgentDirectory(deps.redis, keys, credentials, { offlineAfterMs: config.offlineAfterMs });
  const app = buildApp(config, {
    redis: deps.redis,
    logger,
    jobs,
    jobList: createJobList(deps.redis, keys),
    agents,
    monitor,
    leases,
    notifier,
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
      releaseDir: config.releaseDir,
      maxBytes: config.releaseMaxBytes,
      allowedSigners: config.releaseAllowedSigners,
    }),
    auth: {
      platformToken: config.platformToken,
      enrollTokens: secrets.enrollTokens,
      credentials: credentialCheck,
      ...(deps.benchmarkWithoutAgentChecks ? { skipAgentChecks: true } : {}),
    },
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
        revocations.close();
        await notifier.close();
      })()),
  };
}
