// What the monitor sends through the controller's agent API (bearer agent token); the controller
// keeps it in Redis with bounded memory. Test hosts never hold Redis credentials.
import { z } from 'zod';
import { agentIdSchema as agentId } from './ids.js';

/**
 * One host sample. The controller stores it as given (validated for size, not shape in depth), so the
 * monitor can add figures without a controller change. `ts` is the sample time in ms since the epoch.
 */
export const hostSampleSchema = z
  .object({ ts: z.number().int() })
  .catchall(z.unknown())
  .refine((s) => JSON.stringify(s).length <= 64 * 1024, 'a sample is at most 64 KiB of JSON');
export type HostSample = z.infer<typeof hostSampleSchema>;

/** POST /v1/agent/monitor/metrics — one or more samples (buffered ones after an outage), oldest first. */
export const metricsPushSchema = z.strictObject({
  agentId,
  /** The sampling interval, so the controller sizes the history (retention / interval samples). */
  intervalSec: z.number().int().min(1).max(3600),
  samples: z.array(hostSampleSchema).min(1).max(10_000),
});

/** POST /v1/agent/monitor/heartbeat — the monitor is alive; the key lives `ttlSec`. */
export const monitorHeartbeatSchema = z.strictObject({
  agentId,
  ttlSec: z.number().int().min(1).max(86_400),
  /** Short health summary shown in GET /v1/agents: check name → ok. */
  checks: z.record(z.string().max(128), z.boolean()).optional(),
});

/** PUT /v1/agent/monitor/alert-state — the monitor's alert bookkeeping, opaque to the controller. */
export const alertStatePutSchema = z.strictObject({
  agentId,
  state: z.record(z.string(), z.unknown()).refine((s) => JSON.stringify(s).length <= 256 * 1024, 'alert state is at most 256 KiB of JSON'),
});
// GET /v1/agent/monitor/alert-state?agentId=ID → { state: {...} | null }
// GET /v1/agents/:id/metrics?since=MS (platform token) → { samples: HostSample[] }

/** One schedule's last finished run, as the controller filed it when the job reached a final state. */
export const scheduleRunSchema = z.strictObject({
  schedule: z.string(),
  jobId: z.string(),
  state: z.enum(['succeeded', 'failed', 'cancelled']),
  /** ms since the epoch (Redis time). */
  finishedAt: z.number().int(),
  error: z.string(),
});
export type ScheduleRun = z.infer<typeof scheduleRunSchema>;

/** GET /v1/agent/monitor/schedule-runs?agentId=ID — the caller's schedules' last finished runs. */
export const scheduleRunsReplySchema = z.strictObject({ runs: z.array(scheduleRunSchema) });
