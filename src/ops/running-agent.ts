// Which release the agent on this host runs, as the agent itself records it once its port listens:
// <stateDir>/update/running.json. The update guard reads it, because /healthz tells a caller without
// a port token only that the agent is up, never which commit it runs (and the guard holds no token).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../shared/atomic-file.js';

export const runningAgentSchema = z.object({
  pid: z.number().int().positive(),
  commit: z.string().nullable(),
  startedAt: z.string(),
});
export type RunningAgent = z.infer<typeof runningAgentSchema>;

export function runningAgentPath(stateDir: string): string {
  return join(stateDir, 'update', 'running.json');
}

export function writeRunningAgent(stateDir: string, running: RunningAgent): void {
  writeFileAtomic(runningAgentPath(stateDir), JSON.stringify(running) + '\n', 0o644);
}

/** The record, or undefined when there is none or it does not parse (a guard then keeps waiting). */
export function readRunningAgent(stateDir: string): RunningAgent | undefined {
  try {
    const parsed = runningAgentSchema.safeParse(JSON.parse(readFileSync(runningAgentPath(stateDir), 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Signal 0 checks existence only; EPERM means it exists but is another user's. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
