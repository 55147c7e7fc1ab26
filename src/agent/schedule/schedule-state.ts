// What the scheduler remembers across restarts, per schedule: the last fire time it handled, the
// job that fire queued (to keep runs from overlapping) and a fire being queued whose reply it has not
// yet seen. One JSON file under stateDir.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';

export const scheduleEntrySchema = z.object({
  /** ISO time of the last fire that queued a job (the scheduled instant, not the wall clock). */
  lastFire: z.string(),
  jobId: z.string().optional(),
  /**
   * ISO time of a fire written down before its job is submitted and cleared once the reply is in: a
   * crash or a lost reply in between leaves a job the scheduler does not know, and the next fire
   * resubmits this one's key to learn it (the controller answers with the same job) before judging
   * whether the previous run is over.
   */
  pending: z.string().refine((v) => !Number.isNaN(Date.parse(v)), 'an ISO time').optional(),
});
export type ScheduleEntry = z.infer<typeof scheduleEntrySchema>;

const fileSchema = z.record(z.string(), scheduleEntrySchema);
export type ScheduleStateData = z.infer<typeof fileSchema>;

export function scheduleStatePath(stateDir: string): string {
  return join(stateDir, 'schedules', 'state.json');
}

export function readScheduleState(file: string): ScheduleStateData {
  try {
    const parsed = fileSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    // A damaged file costs at most one catch-up run; the idempotency key still prevents a double.
    return parsed.success ? parsed.data : {};
  } catch {
    return {};
  }
}

/** Temp file + rename: a crash mid-write leaves the previous state, never a torn file. */
export function writeScheduleState(file: string, data: ScheduleStateData): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(data, null, 2) + '\n');
  renameSync(tmp, file);
}
