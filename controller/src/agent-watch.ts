// Announces agents that went silent: an agent that stops heartbeating writes nothing, so nothing in a
// script can tell the fleet page it went offline. A controller looks, once a tick, for agents whose last
// heartbeat crossed offlineAfterMs since its previous look, and appends an `offline` event for each.
// Several controllers may announce the same agent: the event says a state, so a repeat changes nothing.
import type { RedisLike } from './commands.js';
import type { EventLog } from './event-stream.js';
import type { Keys } from './keys.js';

export function createAgentWatch(redis: RedisLike, keys: Keys, events: EventLog, opts: { offlineAfterMs: number }) {
  let lookedAt: number | undefined;
  /**
   * Agents whose heartbeat crossed the line while a later claim (which updates only the hash) kept them
   * from being silent, by when they were last seen: their heartbeat never enters a later look's window,
   * so they are looked at again here once that moment crosses the line too. Without this an agent killed
   * just after a claim (seen under load) stayed online on the fleet page until a reload.
   */
  const recheck = new Map<string, number>();

  /** `now`: the Redis clock (ms), which lastSeenAt is written with. */
  const check = async (now: number): Promise<string[]> => {
    const upTo = now - opts.offlineAfterMs;
    // The first look covers one interval back only: agents long offline were announced before (or are
    // shown offline by GET /v1/agents anyway).
    const from = lookedAt ?? upTo - 5000;
    lookedAt = upTo;
    if (upTo <= from) return [];
    // id -> its last heartbeat: those that crossed the line in this window, read with their scores, and
    // those waiting for a claim to age, whose heartbeat is read again (it may have come back since).
    const due = new Map<string, string | null>();
    const window = await redis.zrangebyscore(keys.agents, `(${from}`, String(upTo), 'WITHSCORES');
    for (let i = 0; i < window.length; i += 2) due.set(window[i]!, window[i + 1]!);
    for (const [id, seen] of recheck) if (seen <= upTo && !due.has(id)) due.set(id, await redis.zscore(keys.agents, id));
    const gone: string[] = [];
    for (const [id, heartbeat] of due) {
      recheck.delete(id);
      // Heartbeating again (or removed): a later look's window finds it, or nothing is to be said.
      if (heartbeat === null || Number(heartbeat) > upTo) continue;
      const seen = Number(await redis.hget(keys.agent(id), 'lastSeenAt'));
      if (!Number.isFinite(seen)) continue;
      // A claim updates only the hash: an agent claiming without heartbeats is not silent (yet).
      if (seen > upTo) {
        recheck.set(id, seen);
        continue;
      }
      await events.append({ type: 'agent', id, state: 'offline', lastSeenAt: seen });
      gone.push(id);
    }
    return gone;
  };
  return { check };
}
