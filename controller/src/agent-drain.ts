// Draining an agent from the platform (POST /v1/agents/:id/drain, DELETE to resume): a mark beside its
// registry entry that the claim scripts read (includes/claim-jobs.lua), so the agent gets no new job and
// finishes the ones it holds. Kept apart from the registry hash, which a re-registration replaces: a
// restarted agent stays drained. The mark lives retentionSec at most, like a silent agent's entry.
import { NotFoundError } from '../../src/shared/errors.js';
import type { RedisLike } from './commands.js';
import { encodeDrainChange } from './drain-feed.js';
import type { EventLog } from './event-stream.js';
import type { Keys } from './keys.js';

export function createAgentDrain(redis: RedisLike, keys: Keys, events: EventLog, opts: { retentionSec: number; offlineAfterMs: number }) {
  /**
   * Sets or clears the mark, tells every controller (drain-feed.ts) and announces the state the fleet
   * page should show. 404 for an unknown agent.
   */
  const set = async (agentId: string, drain: boolean): Promise<{ agentId: string; draining: boolean }> => {
    const [state, lastSeenAt] = await redis.hmget(keys.agent(agentId), 'state', 'lastSeenAt');
    if (state === null || lastSeenAt === null) throw new NotFoundError('AGENT_NOT_FOUND', `no agent ${agentId} is registered`);
    if (drain) await redis.set(keys.agentDrain(agentId), '1', 'EX', opts.retentionSec);
    else await redis.del(keys.agentDrain(agentId));
    await redis.publish(keys.drainChannel, encodeDrainChange({ agentId, drained: drain }));
    const [sec, micro] = (await redis.call('TIME')) as [string, string];
    const now = Number(sec) * 1000 + Math.floor(Number(micro) / 1000);
    const silent = now - Number(lastSeenAt) > opts.offlineAfterMs;
    await events.append({ type: 'agent', id: agentId, state: silent ? 'offline' : drain ? 'draining' : state === 'draining' ? 'draining' : 'online' });
    return { agentId, draining: drain };
  };

  const isDrained = async (agentId: string): Promise<boolean> => (await redis.exists(keys.agentDrain(agentId))) === 1;

  return { drain: (id: string) => set(id, true), resume: (id: string) => set(id, false), isDrained };
}
export type AgentDrain = ReturnType<typeof createAgentDrain>;
