// GET /v1/jobs (the dashboard's paged, filtered list): its query, cursor and reply headers. Kept apart from
// platform-api.ts so the list's server side (controller/src/job-query.ts) is one module to keep or drop.
import { z } from 'zod';
import { labelsSchema } from '../config/fields.js';
import { agentIdSchema } from './ids.js';
import { jobStateSchema, taskNameSchema } from './job.js';

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
