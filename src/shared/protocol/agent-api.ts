// The agent API between agent and controller (bearer: the agent's own credential, identity.ts). Both
// sides validate with these schemas; docs/agent-api.md explains the semantics.
import { z } from 'zod';
import { labelsSchema } from '../config/fields.js';
import { agentIdSchema as agentId, jobIdSchema as jobId } from './ids.js';
import { stepSpecSchema, stepStateSchema } from './job.js';
import { portKeySchema } from './identity.js';
import { idPath } from './paths.js';

const epoch = z.number().int().min(1);

/**
 * online: claiming · draining: finishing what it has, claims nothing new · offline: not seen lately ·
 * revoked: its credential was revoked (DELETE /v1/agents/:id); it can call nothing until enrolled again.
 */
export const agentStateSchema = z.enum(['online', 'draining', 'offline', 'revoked']);
export type AgentState = z.infer<typeof agentStateSchema>;

export const registerRequestSchema = z.strictObject({
  agentId,
  hostname: z.string().max(255),
  addresses: z.array(z.string().max(64)).max(64),
  port: z.number().int().min(0).max(65535),
  version: z.string().max(64),
  commit: z.string().max(64).optional(),
  labels: labelsSchema,
  capacity: z.number().int().min(1).max(1024),
  leaseMs: z.number().int().min(1000).max(3_600_000),
});
export type RegisterRequest = z.infer<typeof registerRequestSchema>;

export const registerResponseSchema = z.object({
  agentId,
  /** The lease the controller grants (the agent's ask, capped). */
  leaseMs: z.number().int(),
  longPollMs: z.number().int(),
  /** Largest log chunk the controller takes in one append. */
  logChunkMaxBytes: z.number().int(),
  serverTime: z.number().int(),
  /** The controller's port-token keys now (the first signs): a rotated key reaches agents on re-register. */
  portKeys: z.array(portKeySchema).max(8),
});
export type RegisterResponse = z.infer<typeof registerResponseSchema>;

export const claimRequestSchema = z.strictObject({
  agentId,
  /** Free slots: the most jobs to hand out. */
  max: z.number().int().min(1).max(1024),
  /** How long to wait for a job; capped by the controller's longPollMs. 0 answers at once. */
  waitMs: z.number().int().min(0).max(120_000).optional(),
  /**
   * Chosen by the agent per claim and reused when it retries the same claim after a network error:
   * the controller answers a repeated claimId with the jobs it already handed out, so a response
   * lost on the wire never orphans a job.
   */
  claimId: z.string().min(8).max(64),
});
export type ClaimRequest = z.infer<typeof claimRequestSchema>;

export const claimedJobSchema = z.object({
  id: jobId,
  epoch,
  attempt: z.number().int().min(1),
  steps: z.array(stepSpecSchema),
  timeoutSec: z.number().int().nullable(),
  /** Bytes of log the controller already holds for this epoch (0 on a fresh claim). */
  logOffset: z.number().int().min(0),
  leaseMs: z.number().int(),
});
export type ClaimedJob = z.infer<typeof claimedJobSchema>;

export const claimResponseSchema = z.object({ jobs: z.array(claimedJobSchema) });
export type ClaimResponse = z.infer<typeof claimResponseSchema>;

/** Agent liveness plus a batch lease renewal in one call. */
export const heartbeatRequestSchema = z.strictObject({
  agentId,
  state: z.enum(['online', 'draining']),
  running: z.number().int().min(0),
  leases: z.array(z.strictObject({ id: jobId, epoch })).max(1024),
});
export type HeartbeatRequest = z.infer<typeof heartbeatRequestSchema>;

/** ok: lease extended · cancel: stop the job and complete it as cancelled · stale: stop at once, report nothing. */
export const leaseStatusSchema = z.enum(['ok', 'cancel', 'stale']);
export type LeaseStatus = z.infer<typeof leaseStatusSchema>;

export const heartbeatResponseSchema = z.object({
  leases: z.record(z.string(), leaseStatusSchema),
  serverTime: z.number().int(),
});
export type HeartbeatResponse = z.infer<typeof heartbeatResponseSchema>;

/** POST /v1/agent/jobs/:id/renew — one lease; 409 STALE_EPOCH when the epoch moved on. */
export const renewRequestSchema = z.strictObject({ epoch });
export const renewResponseSchema = z.object({ status: z.enum(['ok', 'cancel']) });

/**
 * POST /v1/agent/jobs/:id/log?epoch=E&offset=N with the raw bytes as the body.
 * 200 { offset } — the controller's end of log after the append (overlap with bytes it already has is skipped);
 * 409 STALE_EPOCH; 416 LOG_OFFSET_GAP { expected } — resend from `expected`.
 */
export const logAppendQuerySchema = z.strictObject({
  epoch: z.coerce.number().int().min(1),
  offset: z.coerce.number().int().min(0),
});
export const logAppendResponseSchema = z.object({ offset: z.number().int(), cancel: z.boolean().optional() });

/** POST /v1/agent/jobs/:id/step — progress of one step, so the platform sees it live. */
export const stepUpdateSchema = z.strictObject({
  epoch,
  index: z.number().int().min(0),
  state: stepStateSchema,
  exitCode: z.number().int().nullable().optional(),
  signal: z.string().nullable().optional(),
  startedAt: z.string().nullable().optional(),
  finishedAt: z.string().nullable().optional(),
});
export type StepUpdate = z.infer<typeof stepUpdateSchema>;

export const stepResultSchema = z.strictObject({
  state: stepStateSchema,
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable().optional(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});

/** The largest log tail a complete may carry (decoded bytes); longer tails go through log appends. */
export const LOG_TAIL_MAX_BYTES = 64 * 1024;

/**
 * The end of the attempt's log riding on a complete, so the last bytes need no separate append:
 * `data` from byte `offset` of this attempt's log (utf8 text, or base64 for arbitrary bytes). The
 * controller applies it like an append (overlap skipped, a start past its end is a gap) before it checks
 * `logBytes`.
 */
export const logTailSchema = z.strictObject({
  offset: z.number().int().min(0),
  data: z.string().max(Math.ceil(LOG_TAIL_MAX_BYTES / 3) * 4),
  encoding: z.enum(['utf8', 'base64']).optional(),
});
export type LogTail = z.infer<typeof logTailSchema>;

const claimPartSchema = z.strictObject({ agentId, max: z.number().int().min(1).max(1024), claimId: z.string().min(8).max(64) });

/**
 * POST /v1/agent/jobs/:id/complete. The controller accepts it once per epoch; a repeat of an accepted
 * result is answered 200 { accepted: true, duplicate: true }. 409 STALE_EPOCH when another attempt owns
 * the job; 416 LOG_INCOMPLETE { expected } when the log has not all arrived (send it, then complete again).
 * With `claim`, the answer also carries the next jobs: complete-and-claim in one round trip.
 */
export const completeRequestSchema = z.strictObject({
  epoch,
  outcome: z.enum(['succeeded', 'failed', 'cancelled']),
  error: z.string().max(4096).nullable().optional(),
  steps: z.array(stepResultSchema),
  /** Total bytes of log this attempt produced. */
  logBytes: z.number().int().min(0),
  /** Optional (additive): the log's last bytes, applied before `logBytes` is checked. */
  logTail: logTailSchema.optional(),
  claim: claimPartSchema.optional(),
});
export type CompleteRequest = z.infer<typeof completeRequestSchema>;

export const completeResponseSchema = z.object({
  accepted: z.boolean(),
  duplicate: z.boolean().optional(),
  jobs: z.array(claimedJobSchema).optional(),
});
export type CompleteResponse = z.infer<typeof completeResponseSchema>;

/** One result in a batched complete: a complete request for job `id`, without its own claim. */
export const completeBatchItemSchema = completeRequestSchema.omit({ claim: true }).extend({ id: jobId });
export type CompleteBatchItem = z.infer<typeof completeBatchItemSchema>;

/**
 * POST /v1/agent/complete (additive): several results, and optionally the claim of the next jobs, in
 * one round trip. Each result is judged on its own, exactly as a single complete would be, and answered
 * with a status in the same order; the claim is made whatever the results' statuses.
 */
export const completeBatchRequestSchema = z.strictObject({
  results: z.array(completeBatchItemSchema).min(1).max(256),
  claim: claimPartSchema.optional(),
});
export type CompleteBatchRequest = z.infer<typeof completeBatchRequestSchema>;

/**
 * accepted: taken now · duplicate: this epoch's result was already taken (nothing changed) ·
 * stale: another attempt owns the job (409 alone) · not_found: no such job (404 alone) ·
 * log_incomplete: the controller holds `expected` bytes of the log (416 alone): send the rest, complete again.
 */
export const completeItemStatusSchema = z.enum(['accepted', 'duplicate', 'stale', 'not_found', 'log_incomplete']);
export type CompleteItemStatus = z.infer<typeof completeItemStatusSchema>;

export const completeBatchResponseSchema = z.object({
  results: z.array(z.object({ id: jobId, status: completeItemStatusSchema, expected: z.number().int().optional() })),
  jobs: z.array(claimedJobSchema).optional(),
});
export type CompleteBatchResponse = z.infer<typeof completeBatchResponseSchema>;

/**
 * The agent API's paths on the controller; the controller's routes are these same strings. Enroll takes
 * an enrollment token, every other path the agent's own credential. Register, claim and heartbeat take a
 * JSON body; the per-job calls take the job id in the path (the log append carries epoch and offset in
 * the query and the raw bytes as an application/octet-stream body).
 */
/** Every agent API path starts with this: the controller asks for an agent credential on exactly these (but enroll). */
export const AGENT_API_PREFIX = '/v1/agent/';

export const agentApiPaths = {
  /** Bearer an enrollment token: mints the agent's credential (identity.ts). */
  enroll: '/v1/agent/enroll',
  register: '/v1/agent/register',
  /** Queue a job for the caller itself (a JobSubmit without labels, `agent` absent or its own id). */
  submit: '/v1/agent/jobs',
  claim: '/v1/agent/claim',
  heartbeat: '/v1/agent/heartbeat',
  renew: idPath('/v1/agent/jobs/:id/renew'),
  log: idPath('/v1/agent/jobs/:id/log'),
  step: idPath('/v1/agent/jobs/:id/step'),
  complete: idPath('/v1/agent/jobs/:id/complete'),
  completeBatch: '/v1/agent/complete',
  /** GET: a job targeted at the caller (404 for any other), as the platform's GET /v1/jobs/:id shows it. */
  job: idPath('/v1/agent/jobs/:id'),
  monitorMetrics: '/v1/agent/monitor/metrics',
  monitorHeartbeat: '/v1/agent/monitor/heartbeat',
  monitorAlertState: '/v1/agent/monitor/alert-state',
  /** GET: the last finished run of each of the caller's schedules (the monitor alerts on a failed one). */
  monitorScheduleRuns: '/v1/agent/monitor/schedule-runs',
  /** GET, upgraded to a WebSocket: the agent channel (below), the hot calls without a request each. */
  channel: '/v1/agent/channel',
} as const;

/**
 * The agent channel: one WebSocket per agent, opened with the same bearer credential, carrying the calls
 * every job makes (claim, complete, batched complete) as JSON text messages instead of an HTTP request
 * each. A request names the HTTP path it stands for and its body; its reply carries the status and body
 * the HTTP route would have answered, so both transports share one contract, one error registry and one
 * retry policy. Any other path answers 404; an agent whose channel is refused or lost uses HTTP.
 */
export type ChannelCall = { kind: 'claim' } | { kind: 'completeBatch' } | { kind: 'complete'; id: string };

/** The call a path names on the channel (the job id still percent-encoded), or undefined: not carried. */
export function channelCall(path: string): ChannelCall | undefined {
  if (path === agentApiPaths.claim) return { kind: 'claim' };
  if (path === agentApiPaths.completeBatch) return { kind: 'completeBatch' };
  const id = agentApiPaths.complete.match(path);
  return id === undefined ? undefined : { kind: 'complete', id };
}
/** Requests one channel may have unanswered at once (a long-poll claim counts); past it: 429. */
export const CHANNEL_MAX_IN_FLIGHT = 64;

export const channelRequestSchema = z.strictObject({
  /** Chosen by the agent, unique among its requests in flight; the reply names it. */
  rid: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  path: z.string().min(1).max(300),
  body: z.unknown(),
});
export type ChannelRequest = z.infer<typeof channelRequestSchema>;

export const channelReplySchema = z.object({
  rid: z.number().int(),
  status: z.number().int().min(100).max(599),
  body: z.unknown(),
  /** Seconds, with a 429 or 503, as the HTTP reply's Retry-After would say. */
  retryAfter: z.number().int().min(0).optional(),
});
export type ChannelReply = z.infer<typeof channelReplySchema>;
