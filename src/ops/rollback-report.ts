// What the update guard mails after a rollback: what failed, what it did, and whether the old release
// really serves again. The subject says which, so nobody reads "switched back" about a dead agent.
import type { PendingSwitch } from './update-state.js';

export interface RollbackReport {
  agentId: string;
  pending: PendingSwitch;
  healthUrl: string;
  /** Why the new release was given up on. */
  reason: string;
  /** What the guard did to get the agent running again, one line each. */
  actions: string[];
  /** Whether the old release is up again (/healthz answering, running.json on its commit), and what was seen last. */
  serving: boolean;
  seen: string;
  /** What to do when it does not serve (the command to run, the log to read). */
  remedy: string;
}

export function rollbackMail(r: RollbackReport): { subject: string; text: string } {
  const short = r.pending.commit.slice(0, 12);
  const subject = r.serving
    ? `httpagent ${r.agentId}: update to ${short} rolled back; ${r.pending.from} serves again`
    : `httpagent ${r.agentId}: update to ${short} rolled back, but the agent is NOT serving`;
  const lines = [
    `Agent ${r.agentId} switched to commit ${r.pending.commit} at ${r.pending.switchedAt}; it was given up on: ${r.reason}.`,
    `current was switched back to release ${r.pending.from}, and this commit is not tried again until a newer one is pushed.`,
    '',
    ...r.actions.map((a) => `- ${a}`),
    '',
    r.serving
      ? `The agent serves again on release ${r.pending.from}: ${r.healthUrl} ${r.seen}.`
      : `The agent does NOT serve: ${r.healthUrl} ${r.seen}.\n${r.remedy}`,
  ];
  return { subject, text: lines.join('\n') + '\n' };
}
