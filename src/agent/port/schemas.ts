// The agent port's request and response schemas: the same zod objects validate requests and generate
// /openapi.json, so the published contract cannot drift from what the code accepts.
import { z } from 'zod';
import { jobSubmitSchema, paramsSchema, taskNameSchema } from '../../shared/protocol/job.js';
import { DELETE_REFUSALS } from '../tasks/delete-paths.js';

export const errorBodySchema = z.object({
  error: z.looseObject({ code: z.string(), message: z.string() }),
});

/** GET /healthz without a token: alive, and whether the agent takes work (a revoked one does not). */
export const publicHealthResponseSchema = z.strictObject({ ok: z.literal(true), state: z.enum(['online', 'draining']) });

/** GET /healthz with a port token. */
export const healthResponseSchema = publicHealthResponseSchema.extend({
  status: z.literal('ok'),
  agentId: z.string(),
  version: z.string(),
  commit: z.string().nullable(),
  uptimeSec: z.number(),
  runningJobs: z.number().int(),
  draining: z.boolean(),
  controllerReachable: z.boolean(),
  /** The controller revoked this agent's credential: it claims nothing and waits for an operator. */
  revoked: z.boolean(),
  lightTasks: z.object({ active: z.number().int(), queued: z.number().int() }),
});

export const runRequestSchema = z.strictObject({
  task: taskNameSchema,
  params: paramsSchema.optional(),
  /** Capped by the agent's runTimeoutSec, which is also the default. */
  timeoutSec: z.number().int().min(1).max(86_400).optional(),
});
export type RunRequest = z.infer<typeof runRequestSchema>;

export const runResponseSchema = z.object({
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  stdout: z.string(),
  stderr: z.string(),
  durationMs: z.number(),
  truncated: z.boolean(),
  timedOut: z.boolean(),
});

const absolutePath = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => !p.includes('\0'), 'paths must not contain NUL');

export const deleteRequestSchema = z.strictObject({
  paths: z.array(absolutePath).min(1).max(1000),
});

export const deleteResponseSchema = z.object({
  results: z.array(
    z.object({
      path: z.string(),
      status: z.enum(['deleted', 'missing', 'refused']),
      reason: z.enum(DELETE_REFUSALS).optional(),
      message: z.string().optional(),
    }),
  ),
});

export const authorizeRequestSchema = z.strictObject({
  user: z.string().regex(/^[a-z_][a-z0-9_.-]{0,31}\$?$/i, 'expected a local user name'),
  /** One authorized_keys key: `type base64 [comment]`, no options, one line. */
  publicKey: z.string().min(1).max(16_384),
});

export const authorizeResponseSchema = z.object({
  user: z.string(),
  status: z.enum(['added', 'present', 'removed', 'absent']),
  fingerprint: z.string(),
});

export const jacocoRequestSchema = z.strictObject({
  port: z.number().int().min(1).max(65_535),
  host: z
    .string()
    .regex(/^(\[[0-9a-fA-F:]+\]|[0-9a-fA-F:]*:[0-9a-fA-F:]*|[A-Za-z0-9.-]{1,253})$/, 'expected a host name or IP address')
    .default('127.0.0.1'),
  /** Reset the probes in the same atomic step as the dump. */
  reset: z.boolean().default(false),
  /** Store under stateDir/coverage/ and answer a summary instead of the bytes. */
  save: z.boolean().default(false),
});

export const jacocoSavedResponseSchema = z.object({
  path: z.string(),
  sessions: z.number().int(),
  classes: z.number().int(),
  bytes: z.number().int(),
});

export { jobSubmitSchema };

export const jobAcceptedResponseSchema = z.object({
  id: z.string(),
  statusUrl: z.string(),
});
