// What self-update remembers across restarts: the switch awaiting its health check and the commit
// that failed (so it is not tried again until a newer one arrives). One JSON file under stateDir.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';

export const failedUpdateSchema = z.object({
  commit: z.string(),
  /** self-test: the release never ran · unhealthy: it ran but was not up on its commit in time. */
  reason: z.enum(['build', 'self-test', 'unhealthy']),
  detail: z.string(),
  at: z.string(),
});
export type FailedUpdate = z.infer<typeof failedUpdateSchema>;

export const pendingSwitchSchema = z.object({
  /** Release directory names (under releases/). */
  from: z.string(),
  to: z.string(),
  commit: z.string(),
  switchedAt: z.string(),
  /** Epoch ms by which the new release must be up on its commit (update-guard.ts). */
  deadline: z.number(),
});
export type PendingSwitch = z.infer<typeof pendingSwitchSchema>;

export const refusedUpdateSchema = z.object({
  commit: z.string(),
  code: z.enum(['UPDATE_UNSIGNED', 'UPDATE_DOWNGRADE']),
  detail: z.string(),
  at: z.string(),
});
export type RefusedUpdate = z.infer<typeof refusedUpdateSchema>;
/** Refused heads remembered (newest last); a remote cycling through more than this gets re-alerted. */
export const REFUSED_KEPT = 50;

export const updateStateSchema = z.object({
  /** Heads refused before any build (unsigned, older): never tried, nor alerted about, again. */
  refused: z.array(refusedUpdateSchema).optional(),
  failed: failedUpdateSchema.optional(),
  pending: pendingSwitchSchema.optional(),
  /** The last commit seen healthy after a switch. */
  confirmed: z.string().optional(),
});
export type UpdateState = z.infer<typeof updateStateSchema>;

export function updateStatePath(stateDir: string): string {
  return join(stateDir, 'update', 'state.json');
}

export function readUpdateState(file: string): UpdateState {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return {};
  }
  const parsed = updateStateSchema.safeParse(safeJson(text));
  // A damaged file must not stop the agent; the worst case is one retry of a failed commit.
  return parsed.success ? parsed.data : {};
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Written to a temp file and renamed, so a crash leaves the old state or the new, never half. */
export function writeUpdateState(file: string, state: UpdateState): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, file);
}
