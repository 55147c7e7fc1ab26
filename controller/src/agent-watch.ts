// Announces agents that went silent: an agent that stops heartbeating writes nothing, so nothing in a
// script can tell the fleet page it went offline. A controller looks, once a tick, for agents whose last
// heartbeat crossed offlineAfterMs since its previous look, and appends an `offline` event for each.
// Several controllers may announce the same agent: the event says a state, so a repeat changes nothing.
import type { RedisLike } from './commands.js';
import type { EventLog } from './event-stream.js';
import type { Keys } from './keys.js';

export function createAgentWatch(redis: RedisLike, keys: Keys, events: EventLog, opts: { offlineAfterMs: number }) {
  let lookedAt: number | undefined;

  /** `now`: the Redis clock (ms), which lastSeenAt is written with. */
  const check = async (now: number): Promise<string[]> => {
    const upTo = now - opts.offlineAfterMs;
    // The first look covers one interval back only: agents long offline were announced before (or are
    // shown offline by GET /v1/agents anyway).
    const from = lookedAt ?? upTo - 5000;
    lookedAt = upTo;
    if (upTo <= from) return [];
    const ids = await redis.zrangebyscore(keys.agents, `(${from}`, String(upTo));
    const gone: string[] = [];
    for (const id of ids) {
      // A claim updates only the hash: an agent claiming without heartbeats is not silent.
      const seen = Number(await redis.hget(keys.agent(id), 'lastSeenAt'));
      if (!Number.isFinite(seen) || seen > upTo) continue;
      await events.append({ type: 'agent', id, state: 'offline', lastSeenAt: seen });
      gone.push(id);
    }
    return gone;
  };
  return { check };
}
