// The job as the platform sees it: what may be submitted and what GET /v1/jobs/:id answers.
import { z } from 'zod';
import { labelsSchema } from '../config/fields.js';
import { agentIdSchema } from './ids.js';

/** A task name is a file name inside the tasks directory: no paths, no hidden files. */
export const taskNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'a task is a script name inside the tasks directory: 1-128 of [A-Za-z0-9_.-], not starting with a dot');

/** `build-id` → `HTTPAGENT_PARAM_BUILD_ID`: upper-cased, other characters as `_`. */
export function paramEnvName(name: string): string {
  return `HTTPAGENT_PARAM_${name.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`;
}

/**
 * A param value as sent: a string, or a number or boolean as people naturally write them
 * (`{"sleep":1}`), which becomes its JavaScript string (`"1"`, `"1.5"`, `"true"`) before anything else sees it.
 */
const paramValueSchema = z
  .union([
    z
      .string()
      .max(65_536)
      .refine((v) => !v.includes('\0'), 'must not contain a NUL character (it cannot be passed in an environment variable)'),
    z.number(),
    z.boolean(),
  ])
  .transform((v) => (typeof v === 'string' ? v : String(v)));

/**
 * Params become HTTPAGENT_PARAM_<NAME> variables and JSON on stdin; values are strings, passed literally.
 * A NUL cannot be in an environment variable (spawn refuses it), and two names that become the same
 * variable would leave the script one of the two values: both are refused here, at the boundary.
 */
export const paramsSchema = z
  .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/, 'param names are 1-64 of [A-Za-z0-9_.-], starting with a letter or _'), paramValueSchema)
  .refine((p) => Object.keys(p).length <= 64, 'at most 64 params')
  .superRefine((p, ctx) => {
    const byEnv = new Map<string, string>();
    for (const name of Object.keys(p)) {
      const env = paramEnvName(name);
      const first = byEnv.get(env);
      if (first === undefined) byEnv.set(env, name);
      else ctx.addIssue({ code: 'custom', path: [name], message: `params "${first}" and "${name}" would both become ${env}` });
    }
  });

export const stepSpecSchema = z.strictObject({
  task: taskNameSchema,
  params: paramsSchema.optional(),
  timeoutSec: z.number().int().min(1).max(7 * 86_400).optional(),
});
export type StepSpec = z.infer<typeof stepSpecSchema>;

const jobOptions = {
  agent: agentIdSchema.optional(),
  labels: labelsSchema.optional(),
  /** Higher runs first; -100..100, default 0. */
  priority: z.number().int().min(-100).max(100).optional(),
  maxAttempts: z.number().int().min(1).max(100).optional(),
  /** Whole-job timeout across all steps. */
  timeoutSec: z.number().int().min(1).max(7 * 86_400).optional(),
  idempotencyKey: z.string().min(1).max(256).optional(),
};

export const jobSubmitSchema = z.union([
  z.strictObject({ steps: z.array(stepSpecSchema).min(1).max(100), ...jobOptions }),
  z.strictObject({ task: taskNameSchema, params: paramsSchema.optional(), ...jobOptions }),
]);
export type JobSubmit = z.infer<typeof jobSubmitSchema>;

/** The normalised form every submission becomes (the one-step shorthand turned into steps). */
export interface JobSpec {
  steps: StepSpec[];
  agent?: string | undefined;
  labels?: Record<string, string> | undefined;
  priority: number;
  maxAttempts?: number | undefined;
  timeoutSec?: number | undefined;
  idempotencyKey?: string | undefined;
}

export function normaliseJob(input: JobSubmit): JobSpec {
  const steps = 'steps' in input ? input.steps : [{ task: input.task, ...(input.params ? { params: input.params } : {}) }];
  return {
    steps,
    agent: input.agent,
    labels: input.labels,
    priority: input.priority ?? 0,
    maxAttempts: input.maxAttempts,
    timeoutSec: input.timeoutSec,
    idempotencyKey: input.idempotencyKey,
  };
}

/** queued: waiting for an agent · running: leased to one · succeeded/failed/cancelled: final. */
export const jobStateSchema = z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled']);
export type JobState = z.infer<typeof jobStateSchema>;
export const JOB_STATES: readonly JobState[] = jobStateSchema.options;
export const FINAL_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled'];

/** pending: not reached · running · succeeded/failed: exit code known · skipped: an earlier step failed · cancelled. */
export const stepStateSchema = z.enum(['pending', 'running', 'succeeded', 'failed', 'skipped', 'cancelled']);
export type StepState = z.infer<typeof stepStateSchema>;

export const stepStatusSchema = z.object({
  task: z.string(),
  state: stepStateSchema,
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable().optional(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});
export type StepStatus = z.infer<typeof stepStatusSchema>;

/**
 * Why a queued job waits, when no registered agent can take it: NO_MATCHING_AGENT (no agent, online or
 * not, has the id or every label asked for) · AGENT_OFFLINE (the agents that match are all offline or
 * draining). Absent while some matching agent is online: then the job only waits for a free slot.
 */
export const waitingReasonSchema = z.object({
  code: z.enum(['NO_MATCHING_AGENT', 'AGENT_OFFLINE']),
  message: z.string(),
  /** What the job asks for: `agent=<id>`, the label selector `k=v,k=v`, or `any agent`. */
  selector: z.string(),
});
export type WaitingReason = z.infer<typeof waitingReasonSchema>;

export const jobViewSchema = z.object({
  id: z.string(),
  state: jobStateSchema,
  attempt: z.number().int(),
  maxAttempts: z.number().int(),
  agent: z.string().nullable(),
  target: z.object({ agent: z.string().optional(), labels: z.record(z.string(), z.string()).optional() }),
  priority: z.number().int(),
  steps: z.array(stepStatusSchema),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  error: z.string().nullable(),
  cancelRequested: z.boolean(),
  logBytes: z.number().int(),
  logTruncated: z.boolean(),
  idempotencyKey: z.string().nullable(),
  /** The job this one retries (POST /v1/jobs/:id/retry), if any. */
  retryOf: z.string().nullable().optional(),
  /** Only on GET /v1/jobs/:id of a queued job that no registered agent can take. */
  waiting: waitingReasonSchema.optional(),
});
export type JobView = z.infer<typeof jobViewSchema>;
