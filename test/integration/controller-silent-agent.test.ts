// Regression: a frozen agent (SIGSTOP, a paused VM) keeps its long-poll open at the controller, which
// used to hand it the next job, stuck until another lease expiry. A woken claim now checks in Redis that
// the agent still heartbeats (within half its lease); a silent one's long-poll ends empty and the job
// goes to a live waiter. Two controllers on one Redis: liveness is shared, not per process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { agentBody, call, claimId, startController, type Running } from './controller-harness.js';

let redis: PrivateRedis;
let c: Running;
let c2: Running;
const LEASE_MS = 1000;

beforeAll(async () => {
  redis = await startRedis();
  c = await startController(redis.url, { leaseMs: LEASE_MS });
  c2 = await startController(redis.url, { keyPrefix: c.config.keyPrefix, leaseMs: LEASE_MS });
});
afterAll(async () => {
  await c2?.close();
  await c?.close();
  await redis?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function register(id: string, labels: Record<string, string>): Promise<void> {
  const r = await call(c.url, 'POST', '/v1/agent/register', { body: { ...agentBody(id, labels), leaseMs: LEASE_MS } });
  expect(r.status).toBe(200);
}
const heartbeat = async (id: string, on = c) => {
  const r = await call(on.url, 'POST', '/v1/agent/heartbeat', { body: { agentId: id, state: 'online', running: 0, leases: [] } });
  expect(r.status).toBe(200);
};
/** Heartbeats every third of the lease, as a live agent does, until stopped. */
function heartbeating(id: string, on = c): () => Promise<void> {
  let on_ = true;
  const loop = (async () => {
    while (on_) {
      await heartbeat(id, on);
      await sleep(LEASE_MS / 3);
    }
  })();
  return async () => {
    on_ = false;
    await loop;
  };
}
const longPoll = (agentId: string, on = c) =>
  call(on.url, 'POST', '/v1/agent/claim', { body: { agentId, max: 1, waitMs: 10_000, claimId: claimId() } }).then((r) => {
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
    const frozenPoll = longPoll('frozen');
    await sleep(LEASE_MS / 2 + 300); // no heartbeat past half the lease
    const stopLive = heartbeating('live', c2);
    // Both wait on the same controller, the frozen one longest: one job wakes it alone (FIFO), so the
    // live one gets the job only if the frozen one's wake is handed on.
    const livePoll = longPoll('live');
    await sleep(100);
    const id = await submit({ task: 'noop', labels: { pool: 'silent' } });

    expect(await frozenPoll).toEqual([]);
    expect((await livePoll).map((j) => j.id)).toEqual([id]);
    expect(await view(id)).toMatchObject({ state: 'running', agent: 'live', attempt: 1 });
    await stopLive();
  });

  it('an agent heartbeating through another controller keeps getting jobs on a long-poll older than half its lease', async () => {
    await register('steady', { pool: 'steady' });
    const stop = heartbeating('steady', c2);
    const poll = longPoll('steady', c);
    await sleep(LEASE_MS + 200);
    const id = await submit({ task: 'noop', labels: { pool: 'steady' } });
    expect((await poll).map((j) => j.id)).toEqual([id]);
    await stop();
  });

  it('a job for the silent agent itself stays queued for it, and its next claim (it speaks again) takes it', async () => {
    await register('napper', {});
    await heartbeat('napper');
    const poll = longPoll('napper');
    await sleep(LEASE_MS / 2 + 300);
    const id = await submit({ task: 'noop', agent: 'napper' });
    expect(await poll).toEqual([]);
    expect((await view(id)).state).toBe('queued');
    expect((await longPoll('napper')).map((j) => j.id)).toEqual([id]);
  });

  it('a client that never heartbeats (leases kept by per-job renew) is not judged by heartbeats', async () => {
    await register('renewer', { pool: 'renew-only' });
    const poll = longPoll('renewer');
    await sleep(LEASE_MS / 2 + 300);
    const id = await submit({ task: 'noop', labels: { pool: 'renew-only' } });
    expect((await poll).map((j) => j.id)).toEqual([id]);
  });
});
