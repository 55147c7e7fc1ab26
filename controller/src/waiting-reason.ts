// Why a queued job may wait for ever: judged from what the controller knows of its agents, so the
// platform hears "no agent has role=web" at submit time instead of watching a job stay queued.
import type { WaitingReason } from '../../src/shared/protocol/job.js';
import { canonicalSelector } from './keys.js';

/** What the judgement needs of one registered agent. */
export interface KnownAgent {
  id: string;
  labels: Record<string, string>;
  /** online or draining as the agent last said; offline is judged from lastSeenAt. */
  state: string;
  lastSeenAt: number;
}

export interface JobTarget {
  agent?: string | undefined;
  labels?: Record<string, string> | undefined;
}

/** `agent=<id>`, the canonical label selector, or `any agent`. */
export function describeTarget(target: JobTarget): string {
  if (target.agent) return `agent=${target.agent}`;
  if (target.labels && Object.keys(target.labels).length > 0) return canonicalSelector(target.labels);
  return 'any agent';
}

function canTake(a: KnownAgent, target: JobTarget): boolean {
  if (target.agent) return a.id === target.agent;
  return Object.entries(target.labels ?? {}).every(([k, v]) => a.labels[k] === v);
}

/**
 * undefined when some matching agent is online (the job waits at most for a free slot); otherwise the
 * reason, naming the selector. An agent unseen for `offlineAfterMs` counts as offline whatever it said.
 */
export function judgeWaiting(agents: readonly KnownAgent[], target: JobTarget, now: number, offlineAfterMs: number): WaitingReason | undefined {
  const selector = describeTarget(target);
  const matching = agents.filter((a) => canTake(a, target));
  if (matching.length === 0) {
    const message = target.agent
      ? `no agent "${target.agent}" is registered with this controller`
      : selector === 'any agent'
        ? 'no agent is registered with this controller'
        : `no registered agent has the labels ${selector}`;
    return { code: 'NO_MATCHING_AGENT', message, selector };
  }
  const online = matching.filter((a) => a.state === 'online' && now - a.lastSeenAt <= offlineAfterMs);
  if (online.length > 0) return undefined;
  const names = matching.slice(0, 5).map((a) => `${a.id} (${now - a.lastSeenAt > offlineAfterMs ? 'offline' : a.state})`);
  const more = matching.length > 5 ? ` and ${matching.length - 5} more` : '';
  return { code: 'AGENT_OFFLINE', message: `every agent that can take it is offline or draining: ${names.join(', ')}${more}`, selector };
}
