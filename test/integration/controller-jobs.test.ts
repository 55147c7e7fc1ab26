// The job path through a real controller and Redis: enqueue, claim, log, complete; order, targeting,
// idempotency, batches, claim retries, log offsets and cancel.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { createKeys } from '../../controller/src/keys.js';
import { agentBody, call, claimId, startController, type Running } from './controller-harness.js';

let redis: PrivateRedis;
let c: Running;

beforeAll(async () => {
  redis = await startRedis();
  c = await startController(redis.url, { logCapBytes: 1024, retentionSec: 3600 });
});
afterAll(async () => {
  await c?.close();
  await redis?.stop();
});

let n = 0;
async function register(labels: Record<string, string> = {}): Promise<string> {
  const id = `agent-${++n}`;
  const r = await call(c.url, 'POST', '/v1/agent/register', { body: agentBody(id, labels) });
  expect(r.status).toBe(200);
  return id;
}
const submit = (body: unknown) => call(c.url, 'POST', '/v1/jobs', { body });
const claim = (agentId: string, max = 1, waitMs = 0, id = claimId()) =>
  call(c.url, 'POST', '/v1/agent/claim', { body: { agentId, max, waitMs, claimId: id } });
const appendLog = (id: string, epoch: number, offset: number, text: string | Buffer) =>
  call(c.url, 'POST', `/v1/agent/jobs/${id}/log?epoch=${epoch}&offset=${offset}`, { raw: text, contentType: 'application/octet-stream' });
const complete = (id: string, epoch: number, extra: Record<string, unknown> = {}) =>
  call(c.url, 'POST', `/v1/agent/jobs/${id}/complete`, { body: { epoch, outcome: 'succeeded', steps: [], logBytes: 0, ...extra } });

describe('a job from submit to result', () => {
  it('runs a 2-step job: claim, step updates, log, complete; the platform sees each stage', async () => {
    const agent = await register();
    const sub = await submit({ steps: [{ task: 'init' }, { task: 'deploy', params: { version: '1.2' }, timeoutSec: 60 }], agent, timeoutSec: 600 });
    expect(sub.status).toBe(201);
    expect(sub.body.state).toBe('queued');
    const id = sub.body.id as string;

    const got = await claim(agent, 4);
    expect(got.body.jobs).toHaveLength(1);
    const job = got.body.jobs[0];
    expect(job).toMatchObject({ id, epoch: 1, attempt: 1, timeoutSec: 600, logOffset: 0, leaseMs: 10_000 });
    expect(job.steps[1]).toEqual({ task: 'deploy', params: { version: '1.2' }, timeoutSec: 60 });
    expect((await call(c.url, 'GET', `/v1/jobs/${id}`)).body).toMatchObject({ state: 'running', agent, attempt: 1 });

    const t0 = new Date().toISOString();
    const st = await call(c.url, 'POST', `/v1/agent/jobs/${id}/step`, { body: { epoch: 1, index: 0, state: 'running', startedAt: t0 } });
    expect(st.status).toBe(200);
    expect((await call(c.url, 'GET', `/v1/jobs/${id}`)).body.steps[0]).toMatchObject({ task: 'init', state: 'running', startedAt: t0 });

    expect((await appendLog(id, 1, 0, 'init ok\n')).body).toEqual({ offset: 8 });
    expect((await appendLog(id, 1, 8, 'deploy ok\n')).body).toEqual({ offset: 18 });
    const steps = [
      { state: 'succeeded', exitCode: 0, startedAt: t0, finishedAt: t0 },
      { state: 'succeeded', exitCode: 0, startedAt: t0, finishedAt: t0 },
    ];
    const done = await complete(id, 1, { steps, logBytes: 18 });
    expect(done.status).toBe(200);
    expect(done.body).toEqual({ accepted: true });

    const view = (await call(c.url, 'GET', `/v1/jobs/${id}`)).body;
    expect(view).toMatchObject({ id, state: 'succeeded', attempt: 1, agent, logBytes: 18, logTruncated: false, error: null });
    expect(view.steps.map((s: { state: string; exitCode: number }) => [s.state, s.exitCode])).toEqual([['succeeded', 0], ['succeeded', 0]]);
    expect(Date.parse(view.finishedAt)).toBeGreaterThanOrEqual(Date.parse(view.startedAt));

    const log = await call(c.url, 'GET', `/v1/jobs/${id}/log`);
    expect(log.text).toBe('init ok\ndeploy ok\n');
    expect(log.headers['x-log-next-offset']).toBe('18');
    expect(log.headers['x-job-state']).toBe('succeeded');
    const tail = await call(c.url, 'GET', `/v1/jobs/${id}/log?offset=8`);
    expect(tail.text).toBe('deploy ok\n');

    const listed = await call(c.url, 'GET', '/v1/jobs?state=succeeded&limit=5');
    expect(listed.body.map((j: { id: string }) => j.id)).toContain(id);
  });

  it('accepts a result once per epoch: a repeat is a duplicate no-op, another epoch is stale', async () => {
    const agent = await register();
    const { id } = (await submit({ task: 'noop', agent })).body;
    const job = (await claim(agent)).body.jobs[0];
    expect((await complete(id, job.epoch, { outcome: 'failed', error: 'exit 3' })).body).toEqual({ accepted: true });
    const again = await complete(id, job.epoch, { outcome: 'succeeded' });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ accepted: true, duplicate: true });
    const stale = await complete(id, job.epoch + 1);
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe('STALE_EPOCH');
    expect((await call(c.url, 'GET', `/v1/jobs/${id}`)).body).toMatchObject({ state: 'failed', error: 'exit 3' });
  });

  it('complete with claim hands out the next job in the same round trip', async () => {
    const agent = await register();
    const a = (await submit({ task: 'noop', agent })).body.id;
    const b = (await submit({ task: 'noop', agent })).body.id;
    const job = (await claim(agent)).body.jobs[0];
    expect(job.id).toBe(a);
    const r = await complete(a, job.epoch, { claim: { agentId: agent, max: 2, claimId: claimId() } });
    expect(r.body.accepted).toBe(true);
    expect(r.body.jobs.map((j: { id: string }) => j.id)).toEqual([b]);
  });

  it('refuses a result while the log is short of logBytes, naming the offset it holds', async () => {
    const agent = await register();
    const { id } = (await submit({ task: 'noop', agent })).body;
    const job = (await claim(agent)).body.jobs[0];
    await appendLog(id, job.epoch, 0, 'abc');
    const early = await complete(id, job.epoch, { logBytes: 6 });
    expect(early.status).toBe(416);
    expect(early.body.error).toMatchObject({ code: 'LOG_INCOMPLETE', expected: 3 });
    await appendLog(id, job.epoch, 3, 'def');
    expect((await complete(id, job.epoch, { logBytes: 6 })).status).toBe(200);
  });
});

describe('order and targeting', () => {
  it('hands out higher priority first, FIFO within a priority', async () => {
    const agent = await register({ zone: 'prio' });
    const ids: Record<string, string> = {};
    for (const [name, priority] of [['low', -5], ['mid1', 0], ['high', 10], ['mid2', 0]] as const) {
      ids[name] = (await submit({ task: 'noop', agent, priority })).body.id;
    }
    const got = (await claim(agent, 10)).body.jobs.map((j: { id: string }) => j.id);
    expect(got).toEqual([ids.high, ids.mid1, ids.mid2, ids.low]);
  });

  it('a job for one agent goes only to it; a label selector only to agents whose labels hold it', async () => {
    const a = await register({ os: 'linux', role: 'db' });
    const b = await register({ os: 'linux', role: 'web' });
    const forB = (await submit({ task: 'noop', agent: b })).body.id;
    const forDb = (await submit({ task: 'noop', labels: { role: 'db', os: 'linux' } })).body.id;
    expect((await claim(a, 5)).body.jobs.map((j: { id: string }) => j.id)).toEqual([forDb]);
    expect((await claim(b, 5)).body.jobs.map((j: { id: string }) => j.id)).toEqual([forB]);
    const forNobody = (await submit({ task: 'noop', labels: { role: 'cache' } })).body.id;
    expect((await claim(a, 5)).body.jobs).toEqual([]);
    expect((await claim(b, 5)).body.jobs).toEqual([]);
    const cacheAgent = await register({ role: 'cache', os: 'bsd' });
    expect((await claim(cacheAgent, 5)).body.jobs.map((j: { id: string }) => j.id)).toEqual([forNobody]);
  });

  it('the same idempotencyKey returns the same job, alone or inside a batch', async () => {
    const first = await submit({ task: 'noop', idempotencyKey: 'deploy-42' });
    expect(first.status).toBe(201);
    const again = await submit({ task: 'other', idempotencyKey: 'deploy-42' });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: first.body.id, duplicate: true });
    const batch = await submit([{ task: 'noop', idempotencyKey: 'deploy-42' }, { task: 'noop', idempotencyKey: 'deploy-43' }, { task: 'noop', idempotencyKey: 'deploy-43' }]);
    expect(batch.status).toBe(201);
    expect(batch.body[0].id).toBe(first.body.id);
    expect(batch.body[2].id).toBe(batch.body[1].id);
    expect((await call(c.url, 'GET', `/v1/jobs/${first.body.id}`)).body.idempotencyKey).toBe('deploy-42');
  });

  it('a batch with one bad job writes nothing', async () => {
    const agent = await register();
    await claim(agent, 1000); // jobs for any agent left by earlier tests
    const r = await submit([{ task: 'noop', agent }, { task: '../etc/passwd', agent }]);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('BAD_REQUEST');
    expect((await claim(agent, 10)).body.jobs).toEqual([]);
  });

  it('a 10,000-job batch goes in whole and every job is claimed exactly once', async () => {
    const agents = [await register({ pool: 'big' }), await register({ pool: 'big' })];
    const batch = Array.from({ length: 10_000 }, (_, i) => ({ task: 'noop', params: { i: String(i) }, labels: { pool: 'big' } }));
    const r = await submit(batch);
    expect(r.status).toBe(201);
    expect(r.body).toHaveLength(10_000);
    const submitted = new Set(r.body.map((j: { id: string }) => j.id));
    expect(submitted.size).toBe(10_000);
    const seen: string[] = [];
    for (let round = 0; seen.length < 10_000 && round < 100; round++) {
      const got = await Promise.all(agents.map((a) => claim(a, 1024)));
      for (const g of got) for (const j of g.body.jobs) seen.push(j.id);
    }
    expect(seen).toHaveLength(10_000);
    expect(new Set(seen).size).toBe(10_000);
    expect(seen.every((id) => submitted.has(id))).toBe(true);
  });
});

describe('claims that lose their answer', () => {
  it('a retried claimId returns the jobs that claim already got, and pops nothing new', async () => {
    const agent = await register();
    const a = (await submit({ task: 'noop', agent })).body.id;
    const b = (await submit({ task: 'noop', agent })).body.id;
    const cid = claimId();
    const first = (await claim(agent, 1, 0, cid)).body.jobs;
    const retry = (await claim(agent, 1, 0, cid)).body.jobs;
    expect(first.map((j: { id: string }) => j.id)).toEqual([a]);
    expect(retry).toEqual(first);
    // b is still there for the next claim.
    expect((await claim(agent, 5)).body.jobs.map((j: { id: string }) => j.id)).toEqual([b]);
  });
});

describe('logs', () => {
  it('skips the overlap of a resent chunk, refuses a gap with the expected offset', async () => {
    const agent = await register();
    const { id } = (await submit({ task: 'noop', agent })).body;
    const { epoch } = (await claim(agent)).body.jobs[0];
    expect((await appendLog(id, epoch, 0, 'hello ')).body.offset).toBe(6);
    // The reply to this chunk was lost; the agent resends it with more bytes.
    expect((await appendLog(id, epoch, 0, 'hello world\n')).body.offset).toBe(12);
    expect((await appendLog(id, epoch, 6, 'world\n')).body.offset).toBe(12);
    const gap = await appendLog(id, epoch, 20, 'late');
    expect(gap.status).toBe(416);
    expect(gap.body.error).toMatchObject({ code: 'LOG_OFFSET_GAP', expected: 12 });
    expect((await call(c.url, 'GET', `/v1/jobs/${id}/log`)).text).toBe('hello world\n');
  });

  it('keeps binary bytes exactly and counts bytes past the cap without storing them', async () => {
    const agent = await register();
    const { id } = (await submit({ task: 'noop', agent })).body;
    const { epoch } = (await claim(agent)).body.jobs[0];
    const bin = Buffer.from([0, 255, 10, 200, 13]);
    await appendLog(id, epoch, 0, bin);
    const big = Buffer.alloc(2000, 'x');
    expect((await appendLog(id, epoch, 5, big)).body.offset).toBe(2005);
    await complete(id, epoch, { logBytes: 2005 });
    const view = (await call(c.url, 'GET', `/v1/jobs/${id}`)).body;
    expect(view).toMatchObject({ logBytes: 2005, logTruncated: true });
    const res = await fetch(`${c.url}/v1/jobs/${id}/log`, { headers: { authorization: `Bearer ${c.config.platformToken}` } });
    const stored = Buffer.from(await res.arrayBuffer());
    expect(stored.length).toBe(1024);
    expect(stored.subarray(0, 5).equals(bin)).toBe(true);
    expect(res.headers.get('x-log-truncated')).toBe('true');
  });

  it('follow=1 streams the log until the job ends', async () => {
    const agent = await register();
    const { id } = (await submit({ task: 'noop', agent })).body;
    const { epoch } = (await claim(agent)).body.jobs[0];
    await appendLog(id, epoch, 0, 'one\n');
    const res = await fetch(`${c.url}/v1/jobs/${id}/log?follow=1`, { headers: { authorization: `Bearer ${c.config.platformToken}` } });
    const text = res.text();
    await appendLog(id, epoch, 4, 'two\n');
    await complete(id, epoch, { logBytes: 8 });
    expect(await text).toBe('one\ntwo\n');
  });
});

describe('cancel', () => {
  it('cancels a queued job at once; it is never handed out', async () => {
    const agent = await register();
    const { id } = (await submit({ task: 'noop', agent })).body;
    const r = await call(c.url, 'POST', `/v1/jobs/${id}/cancel`);
    expect(r.body).toMatchObject({ id, state: 'cancelled' });
    expect((await claim(agent)).body.jobs).toEqual([]);
    const view = (await call(c.url, 'GET', `/v1/jobs/${id}`)).body;
    expect(view.state).toBe('cancelled');
    expect(view.steps[0].state).toBe('cancelled');
  });

  it('asks the agent of a running job through heartbeat, renew and log replies; it completes cancelled', async () => {
    const agent = await register();
    const { id } = (await submit({ task: 'noop', agent })).body;
    const { epoch } = (await claim(agent)).body.jobs[0];
    const r = await call(c.url, 'POST', `/v1/jobs/${id}/cancel`, { body: {} });
    expect(r.body).toMatchObject({ state: 'running', cancelRequested: true });
    const hb = await call(c.url, 'POST', '/v1/agent/heartbeat', { body: { agentId: agent, state: 'online', running: 1, leases: [{ id, epoch }, { id: 'nope', epoch: 1 }] } });
    expect(hb.body.leases).toEqual({ [id]: 'cancel', nope: 'stale' });
    expect((await call(c.url, 'POST', `/v1/agent/jobs/${id}/renew`, { body: { epoch } })).body).toEqual({ status: 'cancel' });
    expect((await appendLog(id, epoch, 0, 'bye\n')).body).toEqual({ offset: 4, cancel: true });
    await complete(id, epoch, { outcome: 'cancelled', logBytes: 4 });
    expect((await call(c.url, 'GET', `/v1/jobs/${id}`)).body.state).toBe('cancelled');
    const late = await call(c.url, 'POST', `/v1/jobs/${id}/cancel`);
    expect(late.body.state).toBe('cancelled');
  });

  it('refuses to cancel a finished job with JOB_FINAL; an unknown job is 404', async () => {
    const agent = await register();
    const { id } = (await submit({ task: 'noop', agent })).body;
    const { epoch } = (await claim(agent)).body.jobs[0];
    await complete(id, epoch);
    const r = await call(c.url, 'POST', `/v1/jobs/${id}/cancel`);
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('JOB_FINAL');
    const missing = await call(c.url, 'POST', '/v1/jobs/nosuchjob/cancel');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('JOB_NOT_FOUND');
  });
});

describe('retention and the agent registry', () => {
  it('a final job, its log and its idempotency key expire after retentionSec; a queued job does not', async () => {
    const agent = await register();
    const { id } = (await submit({ task: 'noop', agent, idempotencyKey: 'retained-1' })).body;
    const keys = createKeys(c.config.keyPrefix);
    const admin = redis.client();
    try {
      expect(await admin.ttl(keys.job(id))).toBe(-1);
      const { epoch } = (await claim(agent)).body.jobs[0];
      await appendLog(id, epoch, 0, 'x');
      const completedBy = Date.now();
      await complete(id, epoch, { logBytes: 1 });
      for (const key of [keys.job(id), keys.log(id), keys.idem('retained-1')]) {
        // retentionSec from completion, less what has passed since (measured here, not assumed small).
        const ttl = await admin.ttl(key);
        expect(ttl, key).toBeLessThanOrEqual(3600);
        expect(ttl, key).toBeGreaterThanOrEqual(3600 - Math.ceil((Date.now() - completedBy) / 1000) - 1);
      }
    } finally {
      admin.disconnect();
    }
  });

  it('lists agents with their state: draining after a draining heartbeat, running count', async () => {
    const agent = await register({ rack: 'r1' });
    await call(c.url, 'POST', '/v1/agent/heartbeat', { body: { agentId: agent, state: 'draining', running: 2, leases: [] } });
    const row = (await call(c.url, 'GET', '/v1/agents')).body.find((a: { id: string }) => a.id === agent);
    expect(row).toMatchObject({ id: agent, hostname: `${agent}.test`, labels: { rack: 'r1' }, capacity: 4, running: 2, state: 'draining', monitor: 'unknown', metrics: null });
    // Re-registering (after an agent restart) brings it back online with nothing running.
    await call(c.url, 'POST', '/v1/agent/register', { body: agentBody(agent, { rack: 'r1' }) });
    const again = (await call(c.url, 'GET', '/v1/agents')).body.find((a: { id: string }) => a.id === agent);
    expect(again).toMatchObject({ state: 'online', running: 0 });
  });
});
