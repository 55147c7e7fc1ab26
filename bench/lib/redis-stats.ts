// Redis-side cost of a benchmark phase: INFO commandstats deltas (calls and CPU µs per command) and
// the server's own CPU, so a figure can say how much of the work Redis did.
import type { Redis } from 'ioredis';

export interface CommandStats {
  [command: string]: { calls: number; usec: number };
}

export async function commandStats(redis: Redis): Promise<CommandStats> {
  const info = String(await redis.info('commandstats'));
  const out: CommandStats = {};
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) out[m[1]!] = { calls: Number(m[2]), usec: Number(m[3]) };
  return out;
}

/** Calls and µs spent between two snapshots, largest first, plus the total µs. */
export function statsDelta(before: CommandStats, after: CommandStats): { total: number; commands: Record<string, { calls: number; usec: number }> } {
  const rows = Object.entries(after)
    .map(([k, v]) => [k, { calls: v.calls - (before[k]?.calls ?? 0), usec: v.usec - (before[k]?.usec ?? 0) }] as const)
    .filter(([, v]) => v.calls > 0)
    .sort((a, b) => b[1].usec - a[1].usec);
  return { total: rows.reduce((s, [, v]) => s + v.usec, 0), commands: Object.fromEntries(rows) };
}

/**
 * Jobs that reached `state`, from the fleet counters the controller's scripts keep (controller/src/keys.ts
 * `stats`, fields `finished|<state>|<queue>`): one HGETALL on the bench's own connection, so waiting for
 * a figure's jobs costs the agent and the controller nothing (a scrape of the agent's /metrics did).
 */
export async function jobsFinishedIn(redis: Redis, state = 'succeeded', prefix = 'httpagent'): Promise<number> {
  const stats = await redis.hgetall(`{${prefix}}:stats`);
  let n = 0;
  for (const [field, count] of Object.entries(stats)) if (field.startsWith(`finished|${state}|`)) n += Number(count);
  return n;
}
