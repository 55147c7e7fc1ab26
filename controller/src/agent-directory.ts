// GET /v1/agents: the registry joined with each host's monitor heartbeat, latest metrics sample, credential
// and drain mark.
import { z } from 'zod';
import type { RedisLike } from './commands.js';
import type { CredentialStore } from './credential-store.js';
import type { Keys } from './keys.js';
import type { AgentView } from '../../src/shared/protocol/platform-api.js';

const int = z.coerce.number().int();
const agentRecordSchema = z.object({
  hostname: z.string(),
  addresses: z.string().transform((s) => z.array(z.string()).parse(JSON.parse(s))),
  port: int,
  version: z.string(),
  commit: z.string(),
  labels: z.string().transform((s) => z.record(z.string(), z.string()).parse(JSON.parse(s))),
  capacity: int,
  running: int,
  state: z.enum(['online', 'draining']),
  registeredAt: int,
  lastSeenAt: int,
});

/** What monitor-heartbeat-2.lua stores for a monitor. */
const monitorHeartbeatSchema = z.strictObject({ checks: z.record(z.string(), z.boolean()) });

export function createAgentDirectory(redis: RedisLike, keys: Keys, credentials: CredentialStore, opts: { offlineAfterMs: number }) {
  const list = async (): Promise<AgentView[]> => {
    const [ids, time] = await Promise.all([redis.zrange(keys.agents, '0', '-1'), redis.call('TIME') as Promise<[string, string]>]);
    const creds = await credentials.describe(ids);
    const now = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
    const rows = await Promise.all(
      ids.map(async (id) => {
        const [hash, hb, seen, latest, drain] = await Promise.all([
          redis.hgetall(keys.agent(id)),
          redis.get(keys.monitorHeartbeat(id)),
          redis.hget(keys.monitorSeen, id),
          redis.get(keys.monitorLatest(id)),
          redis.exists(keys.agentDrain(id)),
        ]);
        return { id, hash, hb, seen, latest, drain };
      }),
    );
    const out: AgentView[] = [];
    const gone: string[] = [];
    for (const { id, hash, hb, seen, latest, drain } of rows) {
      if (Object.keys(hash).length === 0) {
        // The registry hash expired (retention): drop it from the index too.
        gone.push(id);
        continue;
      }
      const a = agentRecordSchema.parse(hash);
      const iso = (ms: number) => new Date(ms).toISOString();
      const checks = hb ? monitorHeartbeatSchema.parse(JSON.parse(hb)).checks : null;
      out.push({
        id,
        hostname: a.hostname,
        addresses: a.addresses,
        port: a.port,
        version: a.version,
        commit: a.commit || null,
        labels: a.labels,
        capacity: a.capacity,
        running: a.running,
        registeredAt: iso(a.registeredAt),
        lastSeenAt: iso(a.lastSeenAt),
        // Drained by the platform (agent-drain.ts), the agent still says online: it is shown draining.
        state: creds.get(id)?.revoked ? 'revoked' : now - a.lastSeenAt > opts.offlineAfterMs ? 'offline' : drain ? 'draining' : a.state,
        monitorSeenAt: seen ? iso(Number(seen)) : null,
        monitor: hb ? 'online' : seen ? 'lapsed' : 'unknown',
        monitorChecks: checks,
        metrics: latest ? z.record(z.string(), z.unknown()).parse(JSON.parse(latest)) : null,
        credential: creds.get(id)?.credential ?? null,
      });
    }
    if (gone.length) await redis.zrem(keys.agents, ...gone);
    return out;
  };
  return { list };
}

export type AgentDirectory = ReturnType<typeof createAgentDirectory>;
