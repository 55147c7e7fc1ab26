// A job queued through a controller wakes the claims waiting on that same controller at once, without
// the round trip through Redis's pub/sub: with that controller's subscriber cut off, its waiting claim
// still gets the job (it used to wait out its long-poll), while a claim on another controller on the
// same Redis is still woken through pub/sub.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { waitUntil } from '../helpers/wait.js';
import { agentBody, call, claimId, credentialFor, startController, type Running } from './controller-harness.js';

let redis: PrivateRedis;
let c1: Running;
let c2: Running;

beforeAll(async () => {
  redis = await startRedis();
  c1 = await startController(redis.url);
  c2 = await startController(redis.url, { keyPrefix: c1.config.keyPrefix });
});
afterAll(async () => {
  await c2?.close();
  await c1?.close();
  await redis?.stop();
});

/** A claim waiting on `on` (in an object: an async function returning the promise would await it). */
async function waitingClaim(on: Running, agentId: string) {
  const token = await credentialFor(on.url, agentId);
  expect((await call(on.url, 'POST', '/v1/agent/register', { token, body: agentBody(agentId) })).status).toBe(200);
  const before = on.controller.waitingClaims;
  const claim = call(on.url, 'POST', '/v1/agent/claim', { token, body: { agentId, max: 1, waitMs: 20_000, claimId: claimId() } });
  await waitUntil('the claim waiting', () => on.controller.waitingClaims > before);
  return { claim };
}

describe('local wake-up', () => {
  it('hands a job queued on this controller to a claim waiting here, with its pub/sub cut off', async () => {
    const { claim: across } = await waitingClaim(c2, 'lw-remote');
    const { claim: here } = await waitingClaim(c1, 'lw-local');
    // No pub/sub for c1 from here on: only the local announcement can wake its claim.
    c1.clients.subscriber.disconnect();
    const local = (await call(c1.url, 'POST', '/v1/jobs', { body: { task: 'deploy', agent: 'lw-local' } })).body.id;
    const t0 = Date.now();
    expect((await here).body.jobs.map((j: { id: string }) => j.id)).toEqual([local]);
    // Well before the 20 s long-poll would have ended empty.
    expect(Date.now() - t0).toBeLessThan(10_000);
    // Another controller still hears of work queued here through pub/sub.
    const remote = (await call(c1.url, 'POST', '/v1/jobs', { body: { task: 'deploy', agent: 'lw-remote' } })).body.id;
    expect((await across).body.jobs.map((j: { id: string }) => j.id)).toEqual([remote]);
  });
});
