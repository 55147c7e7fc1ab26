// The job hash as stored in Redis, validated on the way out and turned into the platform's view.
import { z } from 'zod';
import { stepSpecSchema, stepStatusSchema, type JobView, type StepStatus } from '../../src/shared/protocol/job.js';

const int = z.coerce.number().int();
const optionalMs = z
  .string()
  .optional()
  .transform((s) => (s === undefined || s === '' ? null : Number(s)));

// Built once: zod compiles a schema on first use, so a schema made inside a transform or per call costs
// about a millisecond every time (a page of 50 jobs spent most of its time there).
const stepSpecsSchema = z.array(stepSpecSchema);
const targetSchema = z.object({ agent: z.string().optional(), labels: z.record(z.string(), z.string()).optional() });
const storedStepStatusSchema = stepStatusSchema.omit({ task: true });

export const jobRecordSchema = z.object({
  state: z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled']),
  attempt: int,
  epoch: int,
  priority: int,
  maxAttempts: int,
  timeoutSec: z.string().transform((s) => (s === '' ? null : Number(s))),
  nsteps: int,
  steps: z.string().transform((s) => stepSpecsSchema.parse(JSON.parse(s))),
  target: z.string().transform((s) => targetSchema.parse(JSON.parse(s))),
  agent: z.string().optional(),
  createdAt: int,
  startedAt: optionalMs,
  finishedAt: optionalMs,
  error: z.string().optional(),
  lastError: z.string().optional(),
  cancel: z.string().optional(),
  logBytes: int,
  logTruncated: z.string().optional(),
  idem: z.string().optional(),
  /** Set by a retry on the job it made (job-store.ts retry). */
  retryOf: z.string().optional(),
});
export type JobRecord = z.infer<typeof jobRecordSchema>;

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** Parses a job hash (HGETALL); step statuses live in fields st:<index>. */
export function toJobView(id: string, hash: Record<string, string>): JobView {
  const rec = jobRecordSchema.parse(hash);
  const final = rec.state === 'succeeded' || rec.state === 'failed' || rec.state === 'cancelled';
  const steps: StepStatus[] = rec.steps.map((spec, i) => {
    const raw = hash[`st:${i}`];
    const st = raw ? storedStepStatusSchema.parse(JSON.parse(raw)) : undefined;
    let state = st?.state ?? 'pending';
    // A job that ended without the agent's word (lease lost, cancelled in the queue) leaves steps
    // unfinished: show how they ended rather than a state that will never change.
    if (final && (state === 'running' || state === 'pending')) {
      state = state === 'pending' ? (rec.state === 'cancelled' ? 'cancelled' : 'skipped') : rec.state === 'cancelled' ? 'cancelled' : 'failed';
    }
    return {
      task: spec.task,
      state,
      exitCode: st?.exitCode ?? null,
      ...(st?.signal ? { signal: st.signal } : {}),
      startedAt: st?.startedAt ?? null,
      finishedAt: st?.finishedAt ?? null,
    };
  });
  return {
    id,
    state: rec.state,
    attempt: rec.attempt,
    maxAttempts: rec.maxAttempts,
    agent: rec.agent || null,
    target: rec.target,
    priority: rec.priority,
    steps,
    createdAt: iso(rec.createdAt)!,
    startedAt: iso(rec.startedAt),
    finishedAt: iso(rec.finishedAt),
    error: rec.error || (final ? null : rec.lastError || null) || null,
    cancelRequested: rec.cancel === '1',
    logBytes: rec.logBytes,
    logTruncated: rec.logTruncated === '1',
    idempotencyKey: rec.idem || null,
    ...(rec.retryOf ? { retryOf: rec.retryOf } : {}),
  };
}
