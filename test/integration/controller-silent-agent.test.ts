// Regression: a frozen agent (SIGSTOP, a paused VM) keeps its long-poll open at the controller, which
// used to hand it the next job, stuck until another lease expiry. A woken claim now checks in Redis that
// the agent still heartbeats (within half its lease); a silent one's long-poll ends empty and the job
// goes to a live waiter. Two controllers on one Redis: liveness is shared, not per process.
// Silence and age are read from Redis's own clock and the agent's lastSeenAt, the values the claim
// script compares, so the tests wait for exactly the condition under test.
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeys } from '../../controller/src/keys.js';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { waitUntil } from '../helpers/wait.js';
import { agentBody, call, claimId, startController, type Running } from './controller-harness.js';

let redis: PrivateRedis;
let admin: Redis;
let c: Running;
let c2: Running;
// Long enough that a live agent heartbeating every LEASE_MS / 6 stays well within half of it on a loaded machine.
const LEASE_MS = 3000;

beforeAll(async () => {
  redis = await startRedis();
  admin = redis.client();
  c = await startController(redis.url, { leaseMs: LEASE_MS });
  c2 = await startController(redis.url, { keyPrefix: c.config.keyPrefix, leaseMs: LEASE_MS });
});
afterAll(async () => {
  admin?.disconnect();
  await c2?.close();
  await c?.close();
  await redis?.stop();
});

const keys = () => createKeys(c.config.keyPrefix);
async function redisNow(): Promise<number> {
  const [sec, usec] = await admin.time();
  return Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
}
/** Until the agent has been silent (no heartbeat, no claim of its own) for more than half its lease. */
const silent = (id: string) =>
  waitUntil(`${id} silent for half its lease`, async () => (await redisNow()) - Number(await admin.hget(keys().agent(id), 'lastSeenAt')) > LEASE_MS / 2);
const waiting = () => c.controller.waitingClaims + c2.controller.waitingClaims;
const waiters = (n: number) => waitUntil(`${n} claims waiting`, () => waiting() >= n);

async function register(id: string, labels: Record<string, string>): Promise<void> {
  const r = await call(c.url, 'POST', '/v1/agent/register', { body: { ...agentBody(id, labels), leaseMs: LEASE_MS } });
  expect(r.status).toBe(200);
}
const heartbeat = async (id: string, on = c) => {
  const r = await call(on.url, 'POST', '/v1/agent/heartbeat', { body: { agentId: id, state: 'online', running: 0, leases: [] } });
  expect(r.status).toBe(200);
};
/** Heartbeats until stopped, as a live agent does (here more often than a third of the lease, for margin). */
function heartbeating(id: string, on = c): () => Promise<void> {
  let beating = true;
  let wake: () => void = () => undefined;
  const loop = (async () => {
    while (beating) {
      await heartbeat(id, on);
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, LEASE_MS / 6);
      });
    }
  })();
  return async () => {
    beating = false;
    wake();
    await loop;
  };
}
const longPoll = (agentId: string, on = c) =>
  call(on.url, 'POST', '/v1/agent/claim', { body: { agentId, max: 1, waitMs: 30_000, claimId: claimId() } }).then((r) => {
    expect(r.status).toBe(200);
    return r.body.jobs as Array<{ id: string }>;
  });
const submit = async (body: unknown): Promise<string> => (await call(c.url, 'POST', '/v1/jobs', { body })).body.id;
const view = async (id: string) => (await call(c.url, 'GET', `/v1/jobs/${id}`)).body;

describe('woken claims for silent agents', () => {
  it('a frozen agent\'s open long-poll gets no job: it ends empty and a live waiter claims the job', async () => {
    await register('frozen', { pool: 'silent' });
    await register('live', { pool: 'silent' });
    await heartbeat('frozen'); // a heartbeating agent, until it freezes just after opening its long-poll
    const base = waiting();
    const frozenPoll = longPoll('frozen');
    await waiters(base + 1);
    await silent('frozen');
    const stopLive = heartbeating('live', c2);
    // Both wait on the same controller, the frozen one longest: one job wakes it alone (FIFO), so the
    // live one gets the job only if the frozen one's wake is handed on.
    const livePoll = longPoll('live');
    await waiters(base + 2);
    const id = await submit({ task: 'noop', labels: { pool: 'silent' } });

    expect(await frozenPoll).toEqual([]);
    expect((await livePoll).map((j) => j.id)).toEqual([id]);
    expect(await view(id)).toMatchObject({ state: 'running', agent: 'live', attempt: 1 });
    await stopLive();
  });

  it('an agent heartbeating through another controller keeps getting jobs on a long-poll older than half its lease', async () => {
    await register('steady', { pool: 'steady' });
    const stop = heartbeating('steady', c2);
    const base = waiting();
    const poll = longPoll('steady', c);
    await waiters(base + 1);
    const openedAt = await redisNow();
    await waitUntil('the long-poll older than half the lease', async () => (await redisNow()) - openedAt > LEASE_MS / 2);
    const id = await submit({ task: 'noop', labels: { pool: 'steady' } });
    expect((await poll).map((j) => j.id)).toEqual([id]);
    await stop();
  });

  it('a job for the silent agent itself stays queued for it, and its next claim (it speaks again) takes it', async () => {
    await register('napper', {});
    await heartbeat('napper');
    const base = waiting();
    const poll = longPoll('napper');
    await waiters(base + 1);
    await silent('napper');
    const id = await submit({ task: 'noop', agent: 'napper' });
    expect(await poll).toEqual([]);
    expect((await view(id)).state).toBe('queued');
    expect((await longPoll('napper')).map((j) => j.id)).toEqual([id]);
  });

  it('a client that never heartbeats (leases kept by per-job renew) is not judged by heartbeats', async () => {
    await register('renewer', { pool: 'renew-only' });
    const base = waiting();
    const poll = longPoll('renewer');
    await waiters(base + 1);
    await silent('renewer');
    const id = await submit({ task: 'noop', labels: { pool: 'renew-only' } });
    expect((await poll).map((j) => j.id)).toEqual([id]);
  });
});
