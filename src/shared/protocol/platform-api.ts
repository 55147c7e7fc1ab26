// The platform API (bearer HTTPAGENT_PLATFORM_TOKEN) beyond the job itself (job.ts): its paths, which
// the controller registers and the clients request, and the agent list it answers.
import { z } from 'zod';
import { agentStateSchema } from './agent-api.js';
import { agentIdSchema } from './ids.js';
import { credentialInfoSchema } from './identity.js';
import { idPath } from './paths.js';

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
