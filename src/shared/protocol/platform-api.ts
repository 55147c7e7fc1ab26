// The platform API (bearer HTTPAGENT_PLATFORM_TOKEN) beyond the job itself (job.ts): its paths, which
// the controller registers and the clients request, and the shapes of its queries and replies, which
// the controller validates with and publishes in /openapi.json.
import { z } from 'zod';
import { labelsSchema } from '../config/fields.js';
import { agentStateSchema } from './agent-api.js';
import { agentIdSchema, jobIdSchema } from './ids.js';
import { credentialInfoSchema } from './identity.js';
import { jobStateSchema, jobViewSchema, taskNameSchema, waitingReasonSchema } from './job.js';
import { hostSampleSchema } from './monitor-api.js';
import { idPath } from './paths.js';
import { timeParamSchema } from './time-param.js';

export const platformApiPaths = {
  /** POST one job or a batch; GET lists them. */
  jobs: '/v1/jobs',
  job: idPath('/v1/jobs/:id'),
  jobLog: idPath('/v1/jobs/:id/log'),
  jobCancel: idPath('/v1/jobs/:id/cancel'),
  jobRetry: idPath('/v1/jobs/:id/retry'),
  agents: '/v1/agents',
  /** DELETE: revoke the agent's credential at once and re-queue the jobs it holds. */
  agent: idPath('/v1/agents/:id'),
  /** The id is an agent id: the host samples its monitor pushed. */
  agentMetrics: idPath('/v1/agents/:id/metrics'),
  /** POST: a short-lived port token for that one agent (identity.ts). */
  agentToken: idPath('/v1/agents/:id/token'),
  /** POST: the agent gets no new job (it finishes those it holds); DELETE: it claims again. */
  agentDrain: idPath('/v1/agents/:id/drain'),
  /** The id is an agent id: its monitor's alert state (open incidents and their history). */
  agentAlerts: idPath('/v1/agents/:id/alerts'),
  /** Job counts by state, and per-minute figures over a window (overview.ts). */
  overview: '/v1/overview',
} as const;

/**
 * DELETE /v1/agents/:id: `requeued` counts the jobs it held that went back to their queues, `cancelled`
 * those whose cancel was already requested (they end cancelled rather than run again).
 */
export const revokeResponseSchema = z.object({
  agentId: agentIdSchema,
  revoked: z.literal(true),
  requeued: z.number().int().min(0),
  cancelled: z.number().int().min(0),
});
export type RevokeResponse = z.infer<typeof revokeResponseSchema>;
/** Served without a token by both servers. */
export const servicePaths = { health: '/healthz', openapi: '/openapi.json' } as const;

/**
 * The header every reply of an httpagent server carries, naming which server answered. A console given
 * the agent's port instead of the controller's tells the two apart by it instead of misreading replies.
 */
export const SERVICE_HEADER = 'x-httpagent-service';
export type ServiceName = 'controller' | 'agent';

/** online: heartbeat key alive · lapsed: seen before, heartbeat expired · unknown: never seen. */
export const monitorStateSchema = z.enum(['online', 'lapsed', 'unknown']);

/**
 * One entry of GET /v1/agents. Loose: a newer controller may add fields, and the console's --json
 * prints what it was sent.
 */
export const agentViewSchema = z.looseObject({
  id: z.string(),
  hostname: z.string(),
  addresses: z.array(z.string()),
  port: z.number().int(),
  version: z.string(),
  commit: z.string().nullable(),
  labels: z.record(z.string(), z.string()),
  capacity: z.number().int(),
  running: z.number().int(),
  registeredAt: z.string(),
  lastSeenAt: z.string(),
  state: agentStateSchema,
  monitorSeenAt: z.string().nullable(),
  monitor: monitorStateSchema,
  monitorChecks: z.record(z.string(), z.boolean()).nullable(),
  /** The monitor's latest host sample, as it sent it. */
  metrics: z.record(z.string(), z.unknown()).nullable(),
  /** When its credential was issued and last used (ms since the epoch); null when it holds none (revoked). */
  credential: credentialInfoSchema.nullable(),
});
export type AgentView = z.infer<typeof agentViewSchema>;

/** POST /v1/jobs with one job: 201 created, or 200 with `duplicate` for an idempotency key seen before. */
export const submitReplySchema = z.looseObject({
  id: z.string(),
  state: jobStateSchema,
  duplicate: z.literal(true).optional(),
  /** Present when no registered agent can take the job: it would otherwise wait without a word. */
  waiting: waitingReasonSchema.optional(),
});
export type SubmitReply = z.infer<typeof submitReplySchema>;

/** POST /v1/jobs with an array: one entry per job, in order. */
export const batchSubmitReplySchema = z.array(z.object({ id: z.string(), state: jobStateSchema, duplicate: z.literal(true).optional() }));

export const cancelReplySchema = z.object({ id: z.string(), state: jobStateSchema, cancelRequested: z.boolean() });

/**
 * POST /v1/jobs/:id/retry: a final job queued again as a NEW job with the same steps, target, priority,
 * attempts and timeout, so the first run's log, attempts and outcome stay as they were. A repeated
 * `idempotencyKey` answers the job it already made.
 */
export const retryRequestSchema = z.strictObject({
  idempotencyKey: z.string().min(1).max(256).optional(),
  /** Overrides the original's priority. */
  priority: z.number().int().min(-100).max(100).optional(),
});
export type RetryRequest = z.infer<typeof retryRequestSchema>;
export const retryReplySchema = submitReplySchema.extend({ retryOf: z.string() });
export type RetryReply = z.infer<typeof retryReplySchema>;

/** `k=v,k=v` (and repeated `label=` parameters) into a map, for the list filter. */
function labelSelector(v: string | string[]): Record<string, string> | string {
  const out: Record<string, string> = {};
  for (const part of (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(','))) {
    const eq = part.indexOf('=');
    if (eq <= 0) return part;
    out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

/** A list cursor: the createdAt (ms) and id of the last job of the previous page. Opaque to callers. */
export const JOB_CURSOR = /^(\d{1,16})\.([A-Za-z0-9_-]{1,64})$/;

/**
 * GET /v1/jobs, newest first. Every filter narrows; a page holds at most `limit` jobs and the reply's
 * `x-next-cursor` header, when present, continues after its last job (x-total-count: all the matches,
 * when one filter or only states are given). `q`, and several filters combined, examine a bounded number
 * of jobs per request, so such a page may be short (even empty) and still carry a cursor.
 */
export const jobListQuerySchema = z.strictObject({
  /** One state or several, comma-separated. */
  state: z
    .string()
    .transform((s) => s.split(','))
    .pipe(z.array(jobStateSchema).min(1))
    .optional()
    .meta({ description: 'one state or several, comma-separated: queued,running,succeeded,failed,cancelled', example: 'failed,cancelled' }),
  /** Jobs targeted at this agent or run by it. */
  agent: agentIdSchema.optional().meta({ description: 'jobs targeted at this agent or run (last) by it' }),
  /** Jobs whose label selector includes every one of these labels. */
  label: z
    .union([z.string(), z.array(z.string())])
    .transform(labelSelector)
    .pipe(labelsSchema)
    .optional()
    .meta({ description: 'k=v[,k=v]: jobs whose label selector includes all of them', example: 'role=web' }),
  /** Jobs with a step of this task. */
  task: taskNameSchema.optional(),
  /** Jobs whose id contains this text. */
  q: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected 1-64 of [A-Za-z0-9_-]').optional().meta({ description: 'text the job id contains' }),
  since: timeParamSchema.optional().meta({ description: 'created at or after: ISO 8601 or epoch ms' }),
  until: timeParamSchema.optional().meta({ description: 'created before: ISO 8601 or epoch ms' }),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  cursor: z.string().regex(JOB_CURSOR, 'expected a cursor from x-next-cursor').optional().meta({ description: 'the x-next-cursor of the previous page' }),
});
export type JobListQuery = z.infer<typeof jobListQuerySchema>;
export const jobListReplySchema = z.array(jobViewSchema);
/** The reply header that continues a list. */
export const NEXT_CURSOR_HEADER = 'x-next-cursor';
/** The reply header counting the jobs the filter matches, every page together (absent for q and when several filters combine). */
export const TOTAL_COUNT_HEADER = 'x-total-count';

export const jobParamsSchema = z.strictObject({ id: jobIdSchema });
export const agentParamsSchema = z.strictObject({ id: agentIdSchema });

export const logQuerySchema = z.strictObject({
  offset: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  follow: z.enum(['0', '1', 'true', 'false']).optional().meta({ description: 'stream until the job ends' }),
  /** The whole log stored so far as one attachment (the dashboard's download), however large. */
  download: z.enum(['0', '1']).optional().meta({ description: 'the whole log stored so far, as an attachment' }),
});

/** GET /v1/agents/:id/metrics: the samples since `since` (all of the last 24 h without it). */
export const metricsQuerySchema = z.strictObject({ since: timeParamSchema.optional() });
export const metricsReplySchema = z.object({ samples: z.array(hostSampleSchema) });

/** GET /healthz of the controller: 503 with redis "unreachable" while Redis does not answer. */
export const controllerHealthSchema = z.object({ ok: z.boolean(), redis: z.enum(['ok', 'unreachable']) });
