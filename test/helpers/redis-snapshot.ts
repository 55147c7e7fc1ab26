// Everything Redis holds under one key prefix, byte for byte (DUMP), so a test can prove a refused request
// left no trace: take a snapshot before, one after, and compare.
import type { Redis } from 'ioredis';

export type Snapshot = Map<string, string>;

/**
 * Every key under `{prefix}:` with its serialized value (hex of DUMP) and whether it expires. `skip`
 * leaves keys out that legitimately change meanwhile (e.g. a credential's last-use bookkeeping).
 */
export async function snapshotKeys(client: Redis, prefix: string, skip: (key: string) => boolean = () => false): Promise<Snapshot> {
  const out: Snapshot = new Map();
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `{${prefix}}:*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      if (skip(key)) continue;
      const [dump, ttl] = await Promise.all([client.dumpBuffer(key), client.pttl(key)]);
      if (dump) out.set(key, `${dump.toString('hex')} ${ttl >= 0 ? 'expires' : 'persists'}`);
    }
  } while (cursor !== '0');
  return out;
}

/** The keys that differ between two snapshots: added, removed or changed. */
export function snapshotDiff(before: Snapshot, after: Snapshot): string[] {
  const diff: string[] = [];
  for (const [k, v] of after) if (before.get(k) !== v) diff.push(before.has(k) ? `changed ${k}` : `added ${k}`);
  for (const k of before.keys()) if (!after.has(k)) diff.push(`removed ${k}`);
  return diff.sort();
}
