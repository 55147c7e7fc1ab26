// The platform API (bearer HTTPAGENT_PLATFORM_TOKEN) beyond the job itself (job.ts): its paths, which
// the controller registers and the clients request, and the agent list it answers.
import { z } from 'zod';
import { labelsSchema } from '../config/fields.js';
import { agentStateSchema } from './agent-api.js';
import { agentIdSchema } from './ids.js';
import { jobStateSchema, taskNameSchema } from './job.js';
import { idPath } from './paths.js';

export const platformApiPaths = {
  /** POST one job or a batch; GET lists them. */
  jobs: '/v1/jobs',
  job: idPath('/v1/jobs/:id'),
  jobLog: idPath('/v1/jobs/:id/log'),
  jobCancel: idPath('/v1/jobs/:id/cancel'),
  jobRetry: idPath('/v1/jobs/:id/retry'),
  agents: '/v1/agents',
  /** The id is an agent id: the host samples its monitor pushed. */
  agentMetrics: idPath('/v1/agents/:id/metrics'),
  /** The id is an agent id: its monitor's alert state (open incidents and their history). */
  agentAlerts: idPath('/v1/agents/:id/alerts'),
  /** Job counts by state, and per-minute figures over a window. */
  overview: '/v1/overview',
} as const;

/** `k=v,k=v` (and repeated `label=` parameters) into a map; a part without '=' is returned to fail the schema. */
function labelSelector(v: string | string[]): Record<string, string> | string {
  const out: Record<string, string> = {};
  for (const part of (Array.isArray(v) ? v : [v]).flatMap((x) => x.split(','))) {
    const eq = part.indexOf('=');
    if (eq <= 0) return part;
    out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

/** A point in time in a query: epoch ms, or an ISO 8601 date. */
const timeParamSchema = z.string().transform((s, ctx) => {
  const ms = /^\d{1,16}$/.test(s) ? Number(s) : Date.parse(s);
  if (Number.isNaN(ms)) {
    ctx.addIssue({ code: 'custom', message: 'expected epoch ms or an ISO 8601 date' });
    return z.NEVER;
  }
  return ms;
});

/** A list cursor: createdAt (ms) and id of the last job of the previous page. */
export const JOB_CURSOR_PATTERN = /^(\d{1,16})\.([A-Za-z0-9_-]{1,64})$/;
/** The reply header that continues a list, and the one that counts every match. */
export const NEXT_CURSOR_HEADER = 'x-next-cursor';
export const TOTAL_COUNT_HEADER = 'x-total-count';

/**
 * GET /v1/jobs, newest first. Every filter narrows; a page holds at most `limit` jobs, `x-next-cursor`
 * (when present) continues after its last job and `x-total-count` counts all that match.
 */
export const jobListQuerySchema = z.strictObject({
  /** One state or several, comma-separated. */
  state: z
    .string()
    .transform((s) => s.split(','))
    .pipe(z.array(jobStateSchema).min(1))
    .optional(),
  /** Jobs targeted at this agent or claimed by it. */
  agent: agentIdSchema.optional(),
  /** Jobs whose target labels include every one of these (k=v[,k=v]). */
  label: z.union([z.string(), z.array(z.string())]).transform(labelSelector).pipe(labelsSchema).optional(),
  /** Jobs with a step of this task. */
  task: taskNameSchema.optional(),
  /** Jobs whose id contains this text. */
  q: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected 1-64 of [A-Za-z0-9_-]').optional(),
  /** Created at or after. */
  since: timeParamSchema.optional(),
  /** Created before. */
  until: timeParamSchema.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  cursor: z.string().regex(JOB_CURSOR_PATTERN, 'expected a cursor from x-next-cursor').optional(),
});
export type JobListQuery = z.infer<typeof jobListQuerySchema>;

/** GET /v1/overview?minutes=N: N = 0 answers the counts alone. */
export const overviewQuerySchema = z.strictObject({ minutes: z.coerce.number().int().min(0).max(1440).default(60) });

/** One minute of GET /v1/overview. */
export interface OverviewMinute {
  /** The minute's start, ms. */
  t: number;
  submitted: number;
  /** Jobs claimed for the first time, and their summed wait since submission. */
  picked: number;
  pickupMs: number;
  done: Record<'succeeded' | 'failed' | 'cancelled', number>;
  /** Queue depth and running jobs as last sampled in the minute; null when no controller sampled. */
  queued: number | null;
  running: number | null;
}

export interface Overview {
  now: number;
  counts: Record<z.infer<typeof jobStateSchema>, number>;
  minutes: OverviewMinute[];
  /** Failed jobs by task over the window. */
  failuresByTask: Record<string, number>;
}

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
});
export type AgentView = z.infer<typeof agentViewSchema>;
