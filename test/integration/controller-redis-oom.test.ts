// Redis at its maxmemory with noeviction refuses writes; the controller says so (503 REDIS_OOM with
// Retry-After, a retryable outage) instead of a 500, writes nothing, keeps serving reads, and works again
// once Redis has room. Regression: a Redis filled by metrics made POST /v1/jobs answer 500.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeys } from '../../controller/src/keys.js';
import { snapshotDiff, snapshotKeys } from '../helpers/redis-snapshot.js';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { ENROLL_TOKEN, agentBody, call, claimId, credentialFor, startController, type Reply, type Running } from './controller-harness.js';

let redis: PrivateRedis;
let c: Running;

beforeAll(async () => {
  redis = await startRedis({ extraArgs: ['--maxmemory-policy', 'noeviction'] });
  c = await startController(redis.url);
});
afterAll(async () => {
  await c?.close();
  await redis?.stop();
});

function expectOom(r: Reply): void {
  expect(r.status, r.text).toBe(503);
  expect(r.body.error.code).toBe('REDIS_OOM');
  expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
}

describe('Redis out of memory', () => {
  it('answers 503 REDIS_OOM with Retry-After, writes nothing, and recovers when Redis has room', async () => {
    await credentialFor(c.url, 'oom-a');
    await call(c.url, 'POST', '/v1/agent/register', { body: agentBody('oom-a') });
    const { id } = (await call(c.url, 'POST', '/v1/jobs', { body: { task: 'noop', agent: 'oom-a' } })).body;
    const admin = redis.client();
    // The credential's last use is stamped after the check passed, on its own: not the request's write.
    const keys = createKeys(c.config.keyPrefix);
    // And the per-minute figures every controller's dashboard ticker samples on its own.
    const skip = (k: string) => k === keys.credentialUse || k.startsWith(keys.minuteStats(0).slice(0, -1));
    try {
      const before = await snapshotKeys(admin, c.config.keyPrefix, skip);
      // Any write that may grow memory is now refused (noeviction).
      await admin.config('SET', 'maxmemory', '1');
      expectOom(await call(c.url, 'POST', '/v1/jobs', { body: { task: 'noop', agent: 'oom-a' } }));
      expectOom(await call(c.url, 'POST', '/v1/agent/enroll', { token: ENROLL_TOKEN, body: { agentId: 'oom-b' } }));
      expectOom(await call(c.url, 'POST', '/v1/agent/claim', { body: { agentId: 'oom-a', max: 1, waitMs: 0, claimId: claimId() } }));
      expectOom(await call(c.url, 'POST', '/v1/agent/monitor/metrics', { body: { agentId: 'oom-a', intervalSec: 10, samples: [{ ts: Date.now() }] } }));
      // Reads still work.
      expect((await call(c.url, 'GET', `/v1/jobs/${id}`)).body.state).toBe('queued');
      await admin.config('SET', 'maxmemory', '0');
      expect(snapshotDiff(before, await snapshotKeys(admin, c.config.keyPrefix, skip))).toEqual([]);
    } finally {
      await admin.config('SET', 'maxmemory', '0');
      admin.disconnect();
    }
    expect((await call(c.url, 'POST', '/v1/jobs', { body: { task: 'noop', agent: 'oom-a' } })).status).toBe(201);
    const claimed = await call(c.url, 'POST', '/v1/agent/claim', { body: { agentId: 'oom-a', max: 2, waitMs: 0, claimId: claimId() } });
    expect(claimed.body.jobs.map((j: { id: string }) => j.id)).toContain(id);
  });
});
