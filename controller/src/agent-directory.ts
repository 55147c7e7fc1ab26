// GET /v1/agents: the registry joined with each host's monitor heartbeat, latest metrics sample, credential
// and drain mark; and which registered agents could take a job (the `waiting` reason of a queued job).
import { z } from 'zod';
import type { RedisLike } from './commands.js';
import type { CredentialStore } from './credential-store.js';
import type { Keys } from './keys.js';
import type { WaitingReason } from '../../src/shared/protocol/job.js';
import type { AgentView } from '../../src/shared/protocol/platform-api.js';
import { judgeWaiting, type JobTarget, type KnownAgent } from './waiting-reason.js';

/** A cached reading of every agent's labels and liveness is reused this long when it finds a match. */
const SNAPSHOT_MAX_AGE_MS = 2000;
/** ...and only this long when it finds none: an agent that registered a moment ago must not be missed. */
const SNAPSHOT_MAX_AGE_NEGATIVE_MS = 1000;

const int = z.coerce.number().int();
const knownSchema = z.tuple([z.string().transform((s) => z.record(z.string(), z.string()).parse(JSON.parse(s))), z.string(), int]);

interface Snapshot {
  /** Local clock when read, for its age. */
  readAt: number;
  /** Redis clock when read, for offline judgements. */
  now: number;
  agents: KnownAgent[];
}

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

async function redisNow(redis: RedisLike): Promise<number> {
  const time = (await redis.call('TIME')) as [string, string];
  return Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
}

/** What monitor-heartbeat-2.lua stores for a monitor. */
const monitorHeartbeatSchema = z.strictObject({ checks: z.record(z.string(), z.boolean()) });

export function createAgentDirectory(redis: RedisLike, keys: Keys, credentials: CredentialStore, opts: { offlineAfterMs: number }) {
  let snapshot: Snapshot | undefined;
  let reading: Promise<Snapshot> | undefined;
  /** Bumped by forget(): a reading begun before it is used by its own callers but not kept. */
  let generation = 0;

  /** Every registered agent's labels, state, last sighting and drain mark: one pipelined HMGET and EXISTS each. */
  const readSnapshot = (): Promise<Snapshot> =>
    (reading ??= (async () => {
      const startedAt = generation;
      try {
        const [ids, now] = await Promise.all([redis.zrange(keys.agents, '0', '-1'), redisNow(redis)]);
        const [rows, drains, creds] = await Promise.all([
          Promise.all(ids.map((id) => redis.hmget(keys.agent(id), 'labels', 'state', 'lastSeenAt'))),
          Promise.all(ids.map((id) => redis.exists(keys.agentDrain(id)))),
          credentials.describe(ids),
        ]);
        const agents: KnownAgent[] = [];
        rows.forEach((row, i) => {
          const parsed = knownSchema.safeParse(row);
          // An expired registry hash (or one of another version) is no agent; a revoked one takes nothing until
          // it enrolls again; one the platform drained (agent-drain.ts) takes nothing though it says online.
          const state = creds.get(ids[i]!)?.revoked ? 'revoked' : drains[i] ? 'draining' : parsed.data?.[1];
          if (parsed.success) agents.push({ id: ids[i]!, labels: parsed.data[0], state: state!, lastSeenAt: parsed.data[2] });
        });
        const read = { readAt: Date.now(), now, agents };
        if (startedAt === generation) snapshot = read;
        return read;
      } finally {
        // A reading forget() let go of is no longer the one in flight.
        if (startedAt === generation) reading = undefined;
      }
    })());

  /** Why a job for `target` would wait with no agent to take it; undefined when some agent can. */
  const whyWaiting = async (target: JobTarget): Promise<WaitingReason | undefined> => {
    const age = () => (snapshot ? Date.now() - snapshot.readAt : Infinity);
    let snap = snapshot && age() <= SNAPSHOT_MAX_AGE_MS ? snapshot : await readSnapshot();
    const judge = (s: Snapshot) => judgeWaiting(s.agents, target, s.now + (Date.now() - s.readAt), opts.offlineAfterMs);
    let reason = judge(snap);
    if (reason && age() > SNAPSHOT_MAX_AGE_NEGATIVE_MS) {
      snap = await readSnapshot();
      reason = judge(snap);
    }
    return reason;
  };

  const list = async (): Promise<AgentView[]> => {
    const [ids, now] = await Promise.all([redis.zrange(keys.agents, '0', '-1'), redisNow(redis)]);
    const creds = await credentials.describe(ids);
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
  /** Drops the cached reading: a drain or resume made here shows in the next judgement, not 2 s later. */
  const forget = (): void => {
    snapshot = undefined;
    reading = undefined;
    generation++;
  };

  return { list, whyWaiting, forget };
}

export type AgentDirectory = ReturnType<typeof createAgentDirectory>;
