// Draining an agent from the platform (the fleet page's Drain): its claims get no new job while it keeps
// the ones it holds, GET /v1/agents shows it draining, a re-registration does not undo it, and a resume
// hands it work again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeys } from '../../controller/src/keys.js';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { waitUntil } from '../helpers/wait.js';
import { agentBody, call, claimId, startController, type Running } from './controller-harness.js';

let redis: PrivateRedis;
let c: Running;

beforeAll(async () => {
  redis = await startRedis();
  c = await startController(redis.url);
});
afterAll(async () => {
  await c?.close();
  await redis?.stop();
});

const claim = (agentId: string) => call(c.url, 'POST', '/v1/agent/claim', { body: { agentId, max: 1, waitMs: 0, claimId: claimId() } });
const stateOf = async (agentId: string) => ((await call(c.url, 'GET', '/v1/agents')).body as { id: string; state: string }[]).find((a) => a.id === agentId)?.state;

describe('POST /v1/agents/:id/drain', () => {
  it('stops new claims, keeps held jobs, survives a re-registration, and DELETE resumes', async () => {
    await call(c.url, 'POST', '/v1/agent/register', { body: agentBody('drain-a') });
    const held = (await call(c.url, 'POST', '/v1/jobs', { body: { task: 'noop', agent: 'drain-a' } })).body.id;
    expect((await claim('drain-a')).body.jobs[0].id).toBe(held);

    const drained = await call(c.url, 'POST', '/v1/agents/drain-a/drain');
    expect(drained.status).toBe(200);
    expect(drained.body).toEqual({ agentId: 'drain-a', draining: true });
    expect(await stateOf('drain-a')).toBe('draining');

    const waiting = (await call(c.url, 'POST', '/v1/jobs', { body: { task: 'noop', agent: 'drain-a' } })).body.id;
    expect((await claim('drain-a')).body.jobs).toEqual([]);
    // The job it held is still its own.
    expect((await call(c.url, 'GET', `/v1/jobs/${held}`)).body).toMatchObject({ state: 'running', agent: 'drain-a' });
    // A restarted agent registers again: still drained.
    await call(c.url, 'POST', '/v1/agent/register', { body: agentBody('drain-a') });
    expect((await claim('drain-a')).body.jobs).toEqual([]);
    expect((await call(c.url, 'GET', `/v1/jobs/${waiting}`)).body.state).toBe('queued');

    expect((await call(c.url, 'DELETE', '/v1/agents/drain-a/drain')).body).toEqual({ agentId: 'drain-a', draining: false });
    expect(await stateOf('drain-a')).toBe('online');
    expect((await claim('drain-a')).body.jobs[0].id).toBe(waiting);
  });

  it("a job only drained agents could take says why it waits, even while such an agent's long-poll waits here", async () => {
    await call(c.url, 'POST', '/v1/agent/register', { body: agentBody('drain-w', { pool: 'drained' }) });
    const submit = async () => (await call(c.url, 'POST', '/v1/jobs', { body: { task: 'noop', labels: { pool: 'drained' } } })).body;
    // Online and waiting: the job will be taken, no reason.
    const first = call(c.url, 'POST', '/v1/agent/claim', { body: { agentId: 'drain-w', max: 1, waitMs: 30_000, claimId: claimId() } });
    await waitUntil('the claim waiting', () => c.controller.waitingClaims === 1);
    expect((await submit()).waiting).toBeUndefined();
    await first;

    expect((await call(c.url, 'POST', '/v1/agents/drain-w/drain')).status).toBe(200);
    // Its claims get nothing now, so a claim of it waiting here is no reason to expect the job taken.
    const parked = call(c.url, 'POST', '/v1/agent/claim', { body: { agentId: 'drain-w', max: 1, waitMs: 30_000, claimId: claimId() } });
    await waitUntil('the drained claim waiting', () => c.controller.waitingClaims === 1);
    const queued = await submit();
    expect(queued.waiting).toMatchObject({ code: 'AGENT_OFFLINE', selector: 'pool=drained' });
    expect(queued.waiting.message).toContain('drain-w (draining)');
    expect((await call(c.url, 'GET', `/v1/jobs/${queued.id}`)).body.waiting).toMatchObject({ code: 'AGENT_OFFLINE' });

    expect((await call(c.url, 'DELETE', '/v1/agents/drain-w/drain')).status).toBe(200);
    expect((await call(c.url, 'GET', `/v1/jobs/${queued.id}`)).body.waiting).toBeUndefined();
    // The parked claim was made while drained; it ends with its long-poll (or the close below).
    void parked.catch(() => undefined);
  });

  it("a drained agent's waiting claim takes no job's wake from an agent that can run it, and claims at once when resumed", async () => {
    await call(c.url, 'POST', '/v1/agent/register', { body: agentBody('drain-x', { pool: 'shared' }) });
    await call(c.url, 'POST', '/v1/agent/register', { body: agentBody('drain-y', { pool: 'shared' }) });
    expect((await call(c.url, 'POST', '/v1/agents/drain-x/drain')).status).toBe(200);
    const base = c.controller.waitingClaims;
    // drain-x waits longest, so a wake would reach it first.
    const x = call(c.url, 'POST', '/v1/agent/claim', { body: { agentId: 'drain-x', max: 1, waitMs: 20_000, claimId: claimId() } });
    await waitUntil('drain-x waiting', () => c.controller.waitingClaims === base + 1);
    const y = call(c.url, 'POST', '/v1/agent/claim', { body: { agentId: 'drain-y', max: 1, waitMs: 20_000, claimId: claimId() } });
    await waitUntil('drain-y waiting', () => c.controller.waitingClaims === base + 2);
    const shared = (await call(c.url, 'POST', '/v1/jobs', { body: { task: 'noop', labels: { pool: 'shared' } } })).body.id;
    expect((await y).body.jobs.map((j: { id: string }) => j.id)).toEqual([shared]);

    // A job only drain-x can take waits for it; the resume wakes its parked claim, which takes it.
    const own = (await call(c.url, 'POST', '/v1/jobs', { body: { task: 'noop', agent: 'drain-x' } })).body.id;
    expect(c.controller.waitingClaims).toBe(base + 1);
    expect((await call(c.url, 'GET', `/v1/jobs/${own}`)).body.state).toBe('queued');
    expect((await call(c.url, 'DELETE', '/v1/agents/drain-x/drain')).status).toBe(200);
    const answered = await x;
    expect(answered.body.jobs.map((j: { id: string }) => j.id)).toEqual([own]);
  });

  it("a drain and a resume made on another controller reach the agent's claim waiting here: the resume wakes it at once", async () => {
    // A second controller of the same fleet: the platform's calls may land on either.
    const other = await startController(redis.url, { keyPrefix: c.config.keyPrefix });
    try {
      await call(c.url, 'POST', '/v1/agent/register', { body: agentBody('drain-far', { pool: 'far' }) });
      const base = c.controller.waitingClaims;
      const parked = call(c.url, 'POST', '/v1/agent/claim', { body: { agentId: 'drain-far', max: 1, waitMs: 20_000, claimId: claimId() } });
      await waitUntil('drain-far waiting here', () => c.controller.waitingClaims === base + 1);
      expect((await call(other.url, 'POST', '/v1/agents/drain-far/drain')).status).toBe(200);
      // Announced, not just marked: the claim waiting here takes no wake, so a job for its pool stays queued,
      // and the job says why (only a drained agent could take it).
      let queued = '';
      await waitUntil('the drain to reach this controller', async () => {
        const r = (await call(c.url, 'POST', '/v1/jobs', { body: { task: 'noop', labels: { pool: 'far' }, idempotencyKey: 'far-probe' } })).body;
        queued = r.id;
        return r.waiting?.code === 'AGENT_OFFLINE';
      });
      expect(c.controller.waitingClaims).toBe(base + 1);

      // What no controller wrote on the channel is ignored, and changes nothing.
      const raw = redis.client();
      try {
        expect(await raw.publish(createKeys(c.config.keyPrefix).drainChannel, '{"agentId":"drain-far","drained":"no"}')).toBeGreaterThan(0);
        expect(await raw.publish(createKeys(c.config.keyPrefix).drainChannel, 'not json')).toBeGreaterThan(0);
      } finally {
        raw.disconnect();
      }
      // Resumed on the other controller: the claim waiting here wakes now and takes the queued job
      // (before, it slept on until its long-poll ended, 20 s here, and answered empty).
      expect((await call(other.url, 'DELETE', '/v1/agents/drain-far/drain')).status).toBe(200);
      const answered = await parked;
      expect(answered.body.jobs.map((j: { id: string }) => j.id)).toEqual([queued]);
    } finally {
      await other.close();
    }
  });

  it('answers 404 for an agent that never registered, and 400 for a body', async () => {
    const r = await call(c.url, 'POST', '/v1/agents/nobody-here/drain');
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('AGENT_NOT_FOUND');
    await call(c.url, 'POST', '/v1/agent/register', { body: agentBody('drain-b') });
    expect((await call(c.url, 'POST', '/v1/agents/drain-b/drain', { body: { now: true } })).status).toBe(400);
  });
});
