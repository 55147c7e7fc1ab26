// The real `httpagent controller` process: start-up line, a job through it, a Redis restart (AOF) it
// survives by itself without losing a job, bad configuration, and a graceful SIGTERM.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnHttpagent, type Spawned } from '../helpers/processes.js';
import { createKeys } from '../../controller/src/keys.js';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { testSigningKeyFile } from '../helpers/identity.js';
import { waitUntil } from '../helpers/wait.js';
import { ENROLL_TOKEN, PLATFORM_TOKEN, agentBody, call, claimId } from './controller-harness.js';

let redis: PrivateRedis;
let proc: Spawned;
let url: string;

const env = (redisUrl: string): Record<string, string> => ({
  HTTPAGENT_REDIS_URL: redisUrl,
  HTTPAGENT_LISTEN: '127.0.0.1:0',
  HTTPAGENT_ENROLL_TOKEN: ENROLL_TOKEN,
  HTTPAGENT_SIGNING_KEY_FILE: testSigningKeyFile(),
  HTTPAGENT_PLATFORM_TOKEN: PLATFORM_TOKEN,
  HTTPAGENT_KEY_PREFIX: 'proc',
  HTTPAGENT_LOG_LEVEL: 'info',
});

beforeAll(async () => {
  redis = await startRedis({ aof: true });
  proc = spawnHttpagent(['controller'], env(redis.url));
  const line = await proc.waitFor(/\{[^\n]*controller listening[^\n]*\}/);
  url = (JSON.parse(line) as { url: string }).url;
});
afterAll(async () => {
  await proc?.kill('SIGKILL');
  await redis?.stop();
});

describe('httpagent controller', () => {
  it('prints one JSON line with its URL and serves a job end to end', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await call(url, 'GET', '/healthz', { token: null })).body).toEqual({ ok: true, redis: 'ok' });
    await call(url, 'POST', '/v1/agent/register', { body: agentBody('proc-a') });
    const { id } = (await call(url, 'POST', '/v1/jobs', { body: { task: 'noop', agent: 'proc-a' } })).body;
    const job = (await call(url, 'POST', '/v1/agent/claim', { body: { agentId: 'proc-a', max: 1, waitMs: 0, claimId: claimId() } })).body.jobs[0];
    expect(job.id).toBe(id);
    const done = await call(url, 'POST', `/v1/agent/jobs/${id}/complete`, { body: { epoch: job.epoch, outcome: 'succeeded', steps: [], logBytes: 0 } });
    expect(done.body.accepted).toBe(true);
  });

  it('rides out a Redis restart (AOF): reconnects alone, keeps every job, long-polls wake again', async () => {
    const batch = Array.from({ length: 500 }, (_, i) => ({ task: 'noop', params: { i: String(i) }, agent: 'proc-b' }));
    const before = (await call(url, 'POST', '/v1/jobs', { body: batch })).body.map((j: { id: string }) => j.id);
    await call(url, 'POST', '/v1/agent/register', { body: agentBody('proc-b') });
    // No pause: Redis write(2)s the AOF before it replies, so a SIGKILL of the server (not of the
    // machine) loses nothing it acknowledged.
    await redis.kill();
    const down = await call(url, 'GET', '/healthz', { token: null });
    expect(down.status).toBe(503);
    const refused = await call(url, 'POST', '/v1/jobs', { body: { task: 'noop' } });
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('REDIS_UNAVAILABLE');
    await redis.start();

    // The controller finds Redis again by itself.
    await waitUntil('the controller healthy again', async () => (await call(url, 'GET', '/healthz', { token: null })).status === 200);

    const seen = new Set<string>();
    for (let i = 0; i < 10 && seen.size < before.length; i++) {
      const r = await call(url, 'POST', '/v1/agent/claim', { body: { agentId: 'proc-b', max: 1024, waitMs: 0, claimId: claimId() } });
      for (const j of r.body.jobs) seen.add(j.id);
    }
    expect(before.every((id: string) => seen.has(id))).toBe(true);

    // The wake-up subscriber resubscribed: a waiting claim is woken by a new job. The claim's first try
    // (it found nothing) stamps the agent's lastSeenAt; by then its waiter is registered.
    const admin = redis.client();
    const agentKey = createKeys('proc').agent('proc-b');
    await admin.hset(agentKey, 'lastSeenAt', 0);
    const waiting = call(url, 'POST', '/v1/agent/claim', { body: { agentId: 'proc-b', max: 1, waitMs: 30_000, claimId: claimId() } });
    await waitUntil('the claim waiting', async () => Number(await admin.hget(agentKey, 'lastSeenAt')) > 0);
    admin.disconnect();
    const { id } = (await call(url, 'POST', '/v1/jobs', { body: { task: 'noop', agent: 'proc-b' } })).body;
    expect((await waiting).body.jobs.map((j: { id: string }) => j.id)).toEqual([id]);
  });

  it('stops on SIGTERM with exit code 0', async () => {
    expect(await proc.kill('SIGTERM')).toBe(0);
    expect(proc.output()).toContain('controller stopped');
  });

  it('refuses a bad setting at start-up, naming the key, with exit code 2', async () => {
    const bad = spawnHttpagent(['controller'], { ...env(redis.url), HTTPAGENT_LEASE_MS: 'soon' });
    expect(await bad.exited()).toBe(2);
    expect(bad.output()).toContain('HTTPAGENT_LEASE_MS');
  });
});
