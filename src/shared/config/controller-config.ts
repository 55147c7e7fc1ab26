// The controller's settings: where Redis is, who may call, and how long things are kept.
import { z } from 'zod';
import { intField, listField, listenSchema, logLevelField, redisUrlField, tokenField } from './fields.js';

export const controllerConfigSchema = z.strictObject({
  /** Redis to keep the inbox in; `npm start` starts a private one when this is unset. */
  redisUrl: redisUrlField().default('redis://127.0.0.1:6379'),
  /** Seed nodes (host:port) of a Redis Cluster; when set, only redisUrl's user, password and TLS are used. */
  redisCluster: listField(listenSchema).default([]),
  /** All keys live under this prefix inside one {hash tag}, so every script's keys share a slot. */
  keyPrefix: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'expected 1-32 of [A-Za-z0-9_-]').default('httpagent'),
  listen: listenSchema.default('0.0.0.0:9890'),
  agentToken: tokenField(),
  platformToken: tokenField(),
  /** A read-only token for the dashboard and GETs of the platform API: everything but actions. */
  viewerToken: tokenField().optional(),
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
  /** An agent unseen this long is shown offline. */
  offlineAfterMs: intField(1000).default(30_000),
  /** Largest log chunk one append may carry (told to agents at register). */
  logChunkMaxBytes: intField(1024, 64 * 1024 * 1024).default(1024 * 1024),
  /** How often each controller sweeps expired leases; re-delivery happens within lease + this. */
  reapIntervalMs: intField(10, 60_000).default(250),
  /** Default attempts for a job whose lease keeps expiring. */
  maxAttempts: intField(1, 100).default(3),
  logLevel: logLevelField().default('info'),
});

export type ControllerConfig = z.infer<typeof controllerConfigSchema>;
