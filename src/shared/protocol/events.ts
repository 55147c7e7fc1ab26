// GET /v1/events (Server-Sent Events): what the controller announces as it happens, for the dashboard.
// Each SSE message's `id` is the Redis stream entry id (resume with Last-Event-ID) and its data one of
// these, as JSON. Loose objects: a newer controller may add fields.
import { z } from 'zod';
import { agentStateSchema } from './agent-api.js';
import { jobStateSchema, stepStateSchema } from './job.js';

export const EVENTS_PATH = '/v1/events';

const int = z.number().int();

export const dashboardEventSchema = z.discriminatedUnion('type', [
  /** A job changed state (or, running, had its cancel requested). */
  z.looseObject({
    type: z.literal('job'),
    id: z.string(),
    state: jobStateSchema,
    agent: z.string().optional(),
    attempt: int.optional(),
    error: z.string().optional(),
    cancelRequested: z.literal(true).optional(),
  }),
  /** A batch too big to announce job by job was queued: lists should be read again. */
  z.looseObject({ type: z.literal('batch'), created: int }),
  /** A step of a running job changed state. */
  z.looseObject({ type: z.literal('step'), id: z.string(), index: int, state: stepStateSchema }),
  /** An agent registered, changed state or running count, came back, or went silent (offline). */
  z.looseObject({ type: z.literal('agent'), id: z.string(), state: agentStateSchema, running: int.optional(), lastSeenAt: int.optional() }),
  /** A monitor sample arrived: the figures the fleet page draws sparklines of (percentages, null if unknown). */
  z.looseObject({
    type: z.literal('sample'),
    id: z.string(),
    ts: int,
    cpu: z.number().nullable(),
    memory: z.number().nullable(),
    disk: z.number().nullable(),
  }),
  /** Sent by the controller alone: events since the given id were dropped from the bounded stream; read everything again. */
  z.looseObject({ type: z.literal('reset') }),
]);
export type DashboardEvent = z.infer<typeof dashboardEventSchema>;
/** What a stream entry carries (everything but `reset`, which is never stored). */
export type StoredEvent = Exclude<DashboardEvent, { type: 'reset' }>;
