// The controller's settings: where Redis is, who may call, and how long things are kept.
import { z } from 'zod';
import { boolField, intField, listField, listenSchema, logLevelField, redisUrlField, strongTokenField } from './fields.js';
import { httpLimitFields } from './http-limits.js';

export const controllerConfigSchema = z.strictObject({
  /** Redis to keep the inbox in; `npm start` starts a private one when this is unset. */
  redisUrl: redisUrlField().default('redis://127.0.0.1:6379'),
  /** Seed nodes (host:port) of a Redis Cluster; when set, only redisUrl's user, password and TLS are used. */
  redisCluster: listField(listenSchema).default([]),
  /** All keys live under this prefix inside one {hash tag}, so every script's keys share a slot. */
  keyPrefix: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'expected 1-32 of [A-Za-z0-9_-]').default('httpagent'),
  listen: listenSchema.default('0.0.0.0:9890'),
  /** The platform API's bearer token. Never equal to an enrollment token (checked at start). */
  platformToken: strongTokenField(),
  /**
   * Enrollment tokens: whoever holds one may enroll a new agent id (never take over a live one). Several
   * for rotation (comma separated in HTTPAGENT_ENROLL_TOKEN); none: enrollment is off.
   */
  enrollToken: listField(strongTokenField()).default([]),
  /** A file of enrollment tokens (one per line or comma separated), added to enrollToken; read at start. */
  enrollTokenFile: z.string().min(1).optional(),
  /**
   * PEM file of Ed25519 private keys (PKCS#8) that sign port tokens; several blocks for rotation: the
   * first signs, all are published to agents. Unset: the controller mints no port tokens.
   */
  signingKeyFile: z.string().min(1).optional(),
  /** Metric bytes one agent's monitor may store per minute (429 MONITOR_QUOTA past it). */
  monitorQuotaBytesPerMin: intField(1024, 1024 * 1024 * 1024).default(1024 * 1024),
  /**
   * The most metric bytes kept per host (its oldest samples go first): with the quota, what one host, even
   * a hostile one, can make Redis hold. A day of 1 KiB samples every 10 s is ~8.5 MiB.
   */
  monitorHistoryMaxBytes: intField(1024, 1024 * 1024 * 1024).default(16 * 1024 * 1024),
  /** Jobs one agent may queue for itself per minute (POST /v1/agent/jobs; 429 SUBMIT_QUOTA past it). */
  agentSubmitPerMin: intField(1, 100_000).default(60),
  /**
   * A read-only token for the dashboard and GETs of the platform API: everything but actions. Never equal
   * to the platform token or an enrollment token (checked at start). Unset: only the platform token signs in.
   */
  viewerToken: strongTokenField().optional(),
  /** How long a dashboard sign-in lasts. */
  sessionTtlSec: intField(60, 30 * 24 * 3600).default(12 * 3600),
  /** Upper bound on the lease an agent may ask for; also the default. */
  leaseMs: intField(1000, 3_600_000).default(10_000),
  /** How long a claim waits for a job before answering empty. */
  longPollMs: intField(0, 120_000).default(30_000),
  /** Finished jobs and their logs expire after this long. */
  retentionSec: intField(60).default(7 * 24 * 3600),
  /** Per-job log cap; bytes past it are counted but not kept, and the job says it was truncated. */
  logCapBytes: intField(1024).default(64 * 1024 * 1024),
  /** Largest request body accepted (a batch of jobs, a log chunk). */
  bodyLimitBytes: intField(1024).default(16 * 1024 * 1024),
  // Each agent holds a kept-alive connection or a few, reused between calls (its client keeps them 60 s):
  // 10,000 long-polling agents (bench many-agents) fit under the cap without reconnecting.
  ...httpLimitFields({ keepAliveTimeoutMs: 65_000, maxConnections: 16_384 }),
  /** An agent unseen this long is shown offline. */
  offlineAfterMs: intField(1000).default(30_000),
  /** Largest log chunk one append may carry (told to agents at register). */
  logChunkMaxBytes: intField(1024, 64 * 1024 * 1024).default(1024 * 1024),
  /** How often each controller sweeps expired leases; re-delivery happens within lease + this. */
  reapIntervalMs: intField(10, 60_000).default(250),
  /** Default attempts for a job whose lease keeps expiring. */
  maxAttempts: intField(1, 100).default(3),
  /**
   * Serve GET /metrics (the fleet in Prometheus text) without the platform token. Off: a scraper sends
   * the platform token as a bearer. Turn on only where the scraper's network is trusted.
   */
  metricsPublic: boolField().default(false),
  /**
   * Where bundles PUT on /v1/releases/:version are kept (files, never Redis: Redis holds their records).
   * Unset: the release channel is off (503 RELEASES_DISABLED).
   */
  releaseDir: z.string().min(1).optional(),
  /** Largest bundle a PUT may upload (413 BUNDLE_TOO_LARGE past it); one of this project is ~30 MiB. */
  releaseMaxBytes: intField(1024 * 1024, 4 * 1024 * 1024 * 1024).default(512 * 1024 * 1024),
  /** An SSH allowed-signers file: set, an upload must be signed by a key in it (422 BUNDLE_UNSIGNED otherwise). */
  releaseAllowedSigners: z.string().min(1).optional(),
  logLevel: logLevelField().default('info'),
});

export type ControllerConfig = z.infer<typeof controllerConfigSchema>;
