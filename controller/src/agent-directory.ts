// GET /v1/agents: the registry joined with each host's monitor heartbeat and latest metrics sample; and
// which registered agents could take a job (the `waiting` reason of a queued job).
import { z } from 'zod';
import type { RedisLike } from './commands.js';
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
  commit: z.string().optional(),
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

export function createAgentDirectory(redis: RedisLike, keys: Keys, opts: { offlineAfterMs: number }) {
  let snapshot: Snapshot | undefined;
  let reading: Promise<Snapshot> | undefined;

  /** Every registered agent's labels, state and last sighting: one pipelined HMGET each. */
  const readSnapshot = (): Promise<Snapshot> =>
    (reading ??= (async () => {
      try {
        const [ids, now] = await Promise.all([redis.zrange(keys.agents, '0', '-1'), redisNow(redis)]);
        const rows = await Promise.all(ids.map((id) => redis.hmget(keys.agent(id), 'labels', 'state', 'lastSeenAt')));
        const agents: KnownAgent[] = [];
        rows.forEach((row, i) => {
          const parsed = knownSchema.safeParse(row);
          // An expired registry hash (or one of another version) is no agent.
          if (parsed.success) agents.push({ id: ids[i]!, labels: parsed.data[0], state: parsed.data[1], lastSeenAt: parsed.data[2] });
        });
        snapshot = { readAt: Date.now(), now, agents };
        return snapshot;
      } finally {
        reading = undefined;
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
    const rows = await Promise.all(
      ids.map(async (id) => {
        const [hash, hb, seen, latest] = await Promise.all([
          redis.hgetall(keys.agent(id)),
          redis.get(keys.monitorHeartbeat(id)),
          redis.hget(keys.monitorSeen, id),
          redis.get(keys.monitorLatest(id)),
        ]);
        return { id, hash, hb, seen, latest };
      }),
    );
    const out: AgentView[] = [];
    const gone: string[] = [];
    for (const { id, hash, hb, seen, latest } of rows) {
      const parsed = agentRecordSchema.safeParse(hash);
      if (!parsed.success) {
        // The registry hash expired (retention) or is from an incompatible version: drop it from the index.
        if (!hash.hostname) gone.push(id);
        continue;
      }
      const a = parsed.data;
      const iso = (ms: number) => new Date(ms).toISOString();
      const checks = hb ? ((JSON.parse(hb) as { checks?: Record<string, boolean> }).checks ?? null) : null;
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
        state: now - a.lastSeenAt > opts.offlineAfterMs ? 'offline' : a.state,
        monitorSeenAt: seen ? iso(Number(seen)) : null,
        monitor: hb ? 'online' : seen ? 'lapsed' : 'unknown',
        monitorChecks: checks,
        metrics: latest ? (JSON.parse(latest) as Record<string, unknown>) : null,
      });
    }
    if (gone.length) await redis.zrem(keys.agents, ...gone);
    return out;
  };
  return { list, whyWaiting };
}

export type AgentDirectory = ReturnType<typeof createAgentDirectory>;
