// GET /v1/overview: job counts by state and per-minute figures (the dashboard's Overview page).
import { z } from 'zod';
import type { jobStateSchema } from './job.js';

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
  /** Queue depth and running jobs, averaged over the minute's samples; null when no controller sampled. */
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
