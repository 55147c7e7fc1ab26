// The controller's settings: where Redis is, who may call, and how long things are kept.
import { z } from 'zod';
import { boolField, intField, listField, listenSchema, logLevelField, redisUrlField, strongTokenField, urlField } from './fields.js';
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
  /**
   * Serve the agent channel: agents claim and complete over one WebSocket each instead of an HTTP
   * request per call. Off (a proxy in front that cannot carry WebSockets): agents use HTTP, as they do
   * whenever the channel is refused or lost.
   */
  agentChannel: boolField().default(true),
  /**
   * How often the controller pings each agent channel. A channel whose agent did not answer the last
   * ping is closed, so a peer gone silent (frozen, cut off, hostile) holds its socket at most twice this.
   */
  agentChannelPingMs: intField(100, 600_000).default(30_000),
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
   * With releaseS3Endpoint set, only where uploads are spooled while they are verified (unset: a private
   * directory under the OS temp dir). Neither set: the release channel is off (503 RELEASES_DISABLED).
   */
  releaseDir: z.string().min(1).optional(),
  /**
   * An S3-compatible store (AWS S3, MinIO, Ceph, Garage) for the bundles instead of releaseDir: its URL,
   * addressed path-style (endpoint/bucket/key). Controllers that share the bucket and Redis share releases.
   */
  releaseS3Endpoint: urlField()
    .refine((u) => !/^[a-z]+:\/\/[^/]*@/i.test(u), 'no credentials in the URL: they come from releaseS3CredentialsFile only')
    .refine((u) => !u.includes('?') && !u.includes('#'), 'expected an endpoint without ?query or #fragment')
    .optional(),
  releaseS3Bucket: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name: 3-63 of [a-z0-9.-]')
    .optional(),
  /** The region requests are signed for (MinIO and most others take the default). */
  releaseS3Region: z.string().regex(/^[a-z0-9-]{1,32}$/, 'expected a region such as us-east-1').default('us-east-1'),
  /** Put before every object key (`<prefix><version>.<sha256 16>.tar.gz`): fleets can share a bucket. */
  releaseS3Prefix: z
    .string()
    .regex(/^(?!\/)[A-Za-z0-9!_.*'()\/-]{0,256}$/, "expected at most 256 of [A-Za-z0-9!_.*'()/-], not starting with /")
    .default(''),
  /**
   * The S3 access key: a file (mode 0600 or stricter) holding JSON {"accessKeyId", "secretAccessKey"} or
   * those two on two lines. Read once at start; never taken from a setting's value or the environment.
   */
  releaseS3CredentialsFile: z.string().min(1).optional(),
  /**
   * After each upload or rollout, releases past the newest releaseKeep are deleted (record and bundle),
   * except each channel's latest and previous, which are always kept.
   */
  releaseKeep: intField(1, 100_000).default(10),
  /** Largest bundle a PUT may upload (413 BUNDLE_TOO_LARGE past it); one of this project is ~30 MiB. */
  releaseMaxBytes: intField(1024 * 1024, 4 * 1024 * 1024 * 1024).default(512 * 1024 * 1024),
  /** An SSH allowed-signers file: set, an upload must be signed by a key in it (422 BUNDLE_UNSIGNED otherwise). */
  releaseAllowedSigners: z.string().min(1).optional(),
  logLevel: logLevelField().default('info'),
}).superRefine((c, ctx) => {
  // The S3 settings come as a set: half of them would store bundles somewhere nobody meant.
  const s3 = { releaseS3Endpoint: c.releaseS3Endpoint, releaseS3Bucket: c.releaseS3Bucket, releaseS3CredentialsFile: c.releaseS3CredentialsFile };
  const set = Object.entries(s3).filter(([, v]) => v !== undefined);
  if (set.length === 0 || set.length === 3) return;
  for (const [key, v] of Object.entries(s3)) {
    if (v === undefined) ctx.addIssue({ code: 'custom', path: [key], message: `needed with ${set.map(([k]) => k).join(' and ')}: the S3 release store takes releaseS3Endpoint, releaseS3Bucket and releaseS3CredentialsFile together` });
  }
});

export type ControllerConfig = z.infer<typeof controllerConfigSchema>;
