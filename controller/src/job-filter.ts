// GET /v1/jobs's filters as one predicate over a job view, and its cursor: kept apart from the store so
// both are plain functions with their own tests.
import type { JobState, JobView } from '../../src/shared/protocol/job.js';
import { JOB_CURSOR } from '../../src/shared/protocol/platform-api.js';

/** Every field narrows; absent fields do not. Time bounds are applied by the index scan, not here. */
export interface JobFilter {
  states?: readonly JobState[] | undefined;
  /** Targeted at this agent, or run (last) by it. */
  agent?: string | undefined;
  /** The job's label selector holds every one of these. */
  labels?: Record<string, string> | undefined;
  task?: string | undefined;
  /** Text the id contains. */
  idContains?: string | undefined;
  /** createdAt bounds in ms: since inclusive, until exclusive. */
  since?: number | undefined;
  until?: number | undefined;
}

export function jobMatches(job: JobView, f: JobFilter): boolean {
  if (f.states && !f.states.includes(job.state)) return false;
  if (f.agent && job.agent !== f.agent && job.target.agent !== f.agent) return false;
  if (f.labels) {
    const have = job.target.labels ?? {};
    for (const [k, v] of Object.entries(f.labels)) if (have[k] !== v) return false;
  }
  if (f.task && !job.steps.some((s) => s.task === f.task)) return false;
  if (f.idContains && !job.id.includes(f.idContains)) return false;
  return true;
}

/** Where a page ended: the createdAt score and id of its last job. */
export interface JobCursor {
  createdAt: number;
  id: string;
}

export function formatCursor(c: JobCursor): string {
  return `${c.createdAt}.${c.id}`;
}

/** undefined for anything that is not a cursor this controller printed (the schema refused it already). */
export function parseCursor(s: string): JobCursor | undefined {
  const m = JOB_CURSOR.exec(s);
  return m ? { createdAt: Number(m[1]), id: m[2]! } : undefined;
}
