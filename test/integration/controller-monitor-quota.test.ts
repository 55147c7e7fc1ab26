// What one host's monitor can make Redis hold: a byte quota per minute (429 MONITOR_QUOTA with
// Retry-After, nothing stored) and a byte cap on its history (the oldest samples go), so memory stays
// bounded however much a hostile host sends with its own credential.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeys, type Keys } from '../../controller/src/keys.js';
import { enrollAgent } from '../helpers/identity.js';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { ENROLL_TOKEN, call, startController, type Running } from './controller-harness.js';

const QUOTA = 16 * 1024;
const HISTORY_MAX = 24 * 1024;

let redis: PrivateRedis;
let c: Running;
let keys: Keys;

beforeAll(async () => {
  redis = await startRedis();
  c = await startController(redis.url, { monitorQuotaBytesPerMin: QUOTA, monitorHistoryMaxBytes: HISTORY_MAX });
  keys = createKeys(c.config.keyPrefix);
});
afterAll(async () => {
  await c?.close();
  await redis?.stop();
});

let ts = Date.now();
/** `n` samples of about `bytes` bytes of JSON each, newer than any before. */
const samples = (n: number, bytes: number) => Array.from({ length: n }, () => ({ ts: ++ts, pad: 'p'.repeat(bytes - 40) }));

describe('monitor metrics quota', () => {
  it("refuses a host's pushes past its minute's bytes with 429 and Retry-After, storing nothing of them", async () => {
    const cred = await enrollAgent(c.url, ENROLL_TOKEN, 'mq-a');
    const push = (n: number, bytes: number) => call(c.url, 'POST', '/v1/agent/monitor/metrics', { token: cred, body: { agentId: 'mq-a', intervalSec: 10, samples: samples(n, bytes) } });
    expect((await push(10, 1000)).status).toBe(200);
    const admin = redis.client();
    try {
      const held = await admin.zcard(keys.monitorHistory('mq-a'));
      let refused;
      for (let i = 0; i < 50 && !refused; i++) {
        const r = await push(4, 1000);
        if (r.status === 429) refused = r;
        else expect(r.status).toBe(200);
      }
      expect(refused?.body.error.code).toBe('MONITOR_QUOTA');
      const retryAfter = Number(refused!.headers['retry-after']);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      // Everything accepted fits in the quota; the refused push stored nothing.
      const stored = await admin.zrange(keys.monitorHistory('mq-a'), '0', '-1');
      expect(stored.reduce<number>((sum, m) => sum + m.length, 0)).toBeLessThanOrEqual(QUOTA);
      expect(stored.length).toBeGreaterThan(held);
      const after = await admin.zcard(keys.monitorHistory('mq-a'));
      expect((await push(4, 1000)).status).toBe(429);
      expect(await admin.zcard(keys.monitorHistory('mq-a'))).toBe(after);
    } finally {
      admin.disconnect();
    }
  });

  it("keeps a host's history under its byte cap, newest kept, however many minutes it pushes", async () => {
    const cred = await enrollAgent(c.url, ENROLL_TOKEN, 'mq-b');
    const admin = redis.client();
    try {
      const before = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
      let newest = 0;
      for (let minute = 0; minute < 12; minute++) {
        // A new minute, as far as the quota knows (no waiting for the clock).
        await admin.del(keys.monitorQuota('mq-b'));
        const batch = samples(12, 1200);
        newest = batch[batch.length - 1]!.ts;
        expect((await call(c.url, 'POST', '/v1/agent/monitor/metrics', { token: cred, body: { agentId: 'mq-b', intervalSec: 1, samples: batch } })).status).toBe(200);
      }
      const stored = await admin.zrange(keys.monitorHistory('mq-b'), '0', '-1', 'WITHSCORES');
      const members = stored.filter((_, i) => i % 2 === 0);
      const bytes = members.reduce<number>((sum, m) => sum + m.length, 0);
      expect(bytes).toBeLessThanOrEqual(HISTORY_MAX);
      // The count the script keeps beside the history is exact, and the newest sample survived.
      expect(Number(await admin.get(keys.monitorHistoryBytes('mq-b')))).toBe(bytes);
      expect(Number(stored[stored.length - 1])).toBe(newest);
      // 12 minutes × ~14 KiB were sent; Redis grew by about the cap, not by what was sent.
      const after = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
      expect(after - before).toBeLessThan(12 * 12 * 1200);
    } finally {
      admin.disconnect();
    }
  });

  it("a push larger than the quota passes alone in a fresh minute, so a monitor's backlog is never stuck", async () => {
    const cred = await enrollAgent(c.url, ENROLL_TOKEN, 'mq-c');
    const r = await call(c.url, 'POST', '/v1/agent/monitor/metrics', { token: cred, body: { agentId: 'mq-c', intervalSec: 10, samples: samples(20, 1000) } });
    expect(r.status).toBe(200);
    const next = await call(c.url, 'POST', '/v1/agent/monitor/metrics', { token: cred, body: { agentId: 'mq-c', intervalSec: 10, samples: samples(1, 200) } });
    expect(next.body.error.code).toBe('MONITOR_QUOTA');
  });
});
