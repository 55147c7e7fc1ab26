// The controller's watch for agents that went silent, against a real Redis and its real event log: the
// fleet page hears `offline` for an agent whose heartbeats stopped, including one whose last sign of life
// was a claim after its last heartbeat (seen beside stress-ng: such an agent, killed, stayed online on the
// open fleet page, because its heartbeat had already passed the look that skipped it).
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentWatch } from '../../controller/src/agent-watch.js';
import { createEventLog } from '../../controller/src/event-stream.js';
import { createKeys } from '../../controller/src/keys.js';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';

let redis: PrivateRedis;
let client: Redis;

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
});

afterAll(async () => {
  client?.disconnect();
  await redis?.stop();
});

describe('agent watch', () => {
  const OFFLINE_AFTER = 1000;

  async function fleet(prefix: string, agents: Record<string, { heartbeat: number; seen: number }>) {
    const keys = createKeys(prefix);
    for (const [id, a] of Object.entries(agents)) {
      await client.zadd(keys.agents, a.heartbeat, id);
      await client.hset(keys.agent(id), 'lastSeenAt', a.seen);
    }
    const log = createEventLog(client, keys);
    const announced = async () =>
      ((await log.after('0-0', 100)) as [string, string[]][]).map(([, fields]) => JSON.parse(fields[1]!) as { id: string; state: string; lastSeenAt: number });
    return { keys, watch: createAgentWatch(client, keys, log, { offlineAfterMs: OFFLINE_AFTER }), announced };
  }

  it('announces an agent once its last heartbeat is offlineAfterMs old', async () => {
    const { watch, announced } = await fleet('watch-a', { quiet: { heartbeat: 10_000, seen: 10_000 }, alive: { heartbeat: 10_900, seen: 10_900 } });
    expect(await watch.check(10_500)).toEqual([]);
    expect(await watch.check(11_200)).toEqual(['quiet']);
    expect(await announced()).toEqual([{ type: 'agent', id: 'quiet', state: 'offline', lastSeenAt: 10_000 }]);
  });

  it('announces an agent whose last claim came after its last heartbeat, once that claim is old too', async () => {
    const { watch, announced } = await fleet('watch-b', { claimer: { heartbeat: 10_000, seen: 10_500 } });
    // Its heartbeat crosses the line here, but a claim 500 ms later says it still lived then.
    expect(await watch.check(11_200)).toEqual([]);
    // The next looks' windows start after its heartbeat; the claim's moment crosses the line now.
    expect(await watch.check(11_400)).toEqual([]);
    expect(await watch.check(11_600)).toEqual(['claimer']);
    expect(await announced()).toEqual([{ type: 'agent', id: 'claimer', state: 'offline', lastSeenAt: 10_500 }]);
    // Said once.
    expect(await watch.check(13_000)).toEqual([]);
  });

  it('says nothing of an agent that heartbeats again, or was removed, in the meantime', async () => {
    const { keys, watch, announced } = await fleet('watch-c', { back: { heartbeat: 10_000, seen: 10_500 }, removed: { heartbeat: 10_000, seen: 10_500 } });
    expect(await watch.check(11_200)).toEqual([]);
    await client.zadd(keys.agents, 11_300, 'back');
    await client.hset(keys.agent('back'), 'lastSeenAt', 11_300);
    await client.zrem(keys.agents, 'removed');
    expect(await watch.check(11_600)).toEqual([]);
    expect(await announced()).toEqual([]);
    // Silent again afterwards: announced by the ordinary window.
    expect(await watch.check(12_400)).toEqual(['back']);
  });
});
