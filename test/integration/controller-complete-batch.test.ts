// Batched complete (POST /v1/agent/complete) and the log tail a complete may carry, on a real controller:
// per-result fencing (a stale or short result is refused alone), once-per-epoch duplicates, a tail that
// closes the log gap, and the claim of the next jobs in the same call with claimId idempotency.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { agentBody, call, claimId, startController, type Running } from './controller-harness.js';

let redis: PrivateRedis;
let c: Running;
let admin: Redis;

beforeAll(async () => {
  redis = await startRedis();
  c = await startController(redis.url);
  admin = redis.client();
});
afterAll(async () => {
  admin?.disconnect();
  await c?.close();
  await redis?.stop();
});

let n = 0;
/** A fresh agent on its own label pool, with `count` jobs of one step claimed. */
async function agentWithJobs(count: number, queued = 0) {
  const pool = `batch-${++n}`;
  const agentId = `batch-agent-${n}`;
  await call(c.url, 'POST', '/v1/agent/register', { body: agentBody(agentId, { pool }, 64) });
  const spec = { task: 'noop', labels: { pool } };
  const ids = (await call(c.url, 'POST', '/v1/jobs', { body: Array.from({ length: count + queued }, () => spec) })).body.map((j: { id: string }) => j.id);
  const jobs = (await call(c.url, 'POST', '/v1/agent/claim', { body: { agentId, max: count, waitMs: 0, claimId: claimId() } })).body.jobs as Array<{ id: string; epoch: number }>;
  expect(jobs).toHaveLength(count);
  return { agentId, jobs, ids };
}
const step = { state: 'succeeded', exitCode: 0, startedAt: null, finishedAt: null };
const result = (j: { id: string; epoch: number }, extra: Record<string, unknown> = {}) => ({ id: j.id, epoch: j.epoch, outcome: 'succeeded', steps: [step], logBytes: 0, ...extra });
const batch = (body: unknown) => call(c.url, 'POST', '/v1/agent/complete', { body });
const appendLog = (j: { id: string; epoch: number }, offset: number, text: string) =>
  call(c.url, 'POST', `/v1/agent/jobs/${j.id}/log?epoch=${j.epoch}&offset=${offset}`, { raw: text, contentType: 'application/octet-stream' });
const view = async (id: string) => (await call(c.url, 'GET', `/v1/jobs/${id}`)).body;
const accepted = async (id: string) => Number(await admin.hget(`{${c.config.keyPrefix}}:job:${id}`, 'accepted'));

describe('batched complete', () => {
  it('judges each result alone: a stale epoch and an unknown job are refused, the rest accepted', async () => {
    const { jobs } = await agentWithJobs(3);
    const [a, b, d] = jobs as [{ id: string; epoch: number }, { id: string; epoch: number }, { id: string; epoch: number }];
    const r = await batch({ results: [result(a), result({ id: b.id, epoch: b.epoch + 1 }), result({ id: 'no-such-job', epoch: 1 }), result(d, { outcome: 'failed', error: 'boom' })] });
    expect(r.status).toBe(200);
    expect(r.body.results.map((x: { status: string }) => x.status)).toEqual(['accepted', 'stale', 'not_found', 'accepted']);
    expect(r.body.results[1].id).toBe(b.id);
    expect(r.body.jobs).toBeUndefined();
    expect((await view(a.id)).state).toBe('succeeded');
    expect(await view(d.id)).toMatchObject({ state: 'failed', error: 'boom' });
    // The refused one is still running under its own epoch, which can still complete it.
    expect((await view(b.id)).state).toBe('running');
    const again = await batch({ results: [result(b)] });
    expect(again.body.results[0].status).toBe('accepted');
  });

  it('a repeated batch answers duplicates and accepts nothing twice', async () => {
    const { jobs } = await agentWithJobs(2);
    const body = { results: jobs.map((j) => result(j)) };
    expect((await batch(body)).body.results.map((x: { status: string }) => x.status)).toEqual(['accepted', 'accepted']);
    // The same result twice in one batch, and the whole batch again (a lost reply retried).
    const twice = await batch({ results: [...body.results, body.results[0]] });
    expect(twice.body.results.map((x: { status: string }) => x.status)).toEqual(['duplicate', 'duplicate', 'duplicate']);
    for (const j of jobs) expect(await accepted(j.id)).toBe(1);
  });

  it('a short log is refused for that result alone, unless the tail it carries closes the gap', async () => {
    const { jobs } = await agentWithJobs(4);
    const [short, closed, overlap, gap] = jobs as Array<{ id: string; epoch: number }> as [any, any, any, any];
    for (const j of jobs) expect((await appendLog(j, 0, 'hello ')).body.offset).toBe(6);
    const r = await batch({
      results: [
        result(short, { logBytes: 12 }),
        result(closed, { logBytes: 12, logTail: { offset: 6, data: 'world\n' } }),
        result(overlap, { logBytes: 12, logTail: { offset: 0, data: Buffer.from('hello world\n').toString('base64'), encoding: 'base64' } }),
        result(gap, { logBytes: 12, logTail: { offset: 8, data: 'rld\n' } }),
      ],
    });
    expect(r.body.results).toEqual([
      { id: short.id, status: 'log_incomplete', expected: 6 },
      { id: closed.id, status: 'accepted' },
      { id: overlap.id, status: 'accepted' },
      { id: gap.id, status: 'log_incomplete', expected: 6 },
    ]);
    for (const j of [closed, overlap]) expect((await call(c.url, 'GET', `/v1/jobs/${j.id}/log`)).text).toBe('hello world\n');
    // A tail past the end stored nothing; the refused results complete once the log is whole.
    expect((await appendLog(gap, 6, 'world\n')).body.offset).toBe(12);
    const fixed = await batch({ results: [result(gap, { logBytes: 12 }), result(short, { logBytes: 12, logTail: { offset: 6, data: 'there\n' } })] });
    expect(fixed.body.results.map((x: { status: string }) => x.status)).toEqual(['accepted', 'accepted']);
    expect((await call(c.url, 'GET', `/v1/jobs/${short.id}/log`)).text).toBe('hello there\n');
  });

  it('claims the next jobs in the same call, whatever the results; a repeated claimId answers the same jobs', async () => {
    const { agentId, jobs, ids } = await agentWithJobs(2, 3);
    const claim = { agentId, max: 2, claimId: claimId() };
    const body = { results: [result(jobs[0]!), result({ id: jobs[1]!.id, epoch: jobs[1]!.epoch + 5 })], claim };
    const r = await batch(body);
    expect(r.body.results.map((x: { status: string }) => x.status)).toEqual(['accepted', 'stale']);
    expect(r.body.jobs).toHaveLength(2);
    for (const j of r.body.jobs) expect(ids).toContain(j.id);
    // The reply was lost: the retry finds its result a duplicate and gets the same jobs back, no more.
    const retry = await batch(body);
    expect(retry.body.results.map((x: { status: string }) => x.status)).toEqual(['duplicate', 'stale']);
    expect(retry.body.jobs).toEqual(r.body.jobs);
    for (const j of r.body.jobs) expect((await view(j.id)).state).toBe('running');
    const rest = await batch({ results: r.body.jobs.map((j: { id: string; epoch: number }) => result(j)), claim: { agentId, max: 5, claimId: claimId() } });
    expect(rest.body.jobs).toHaveLength(1);
  });

  it('an unknown agent in the claim refuses the whole call before anything changes', async () => {
    const { jobs } = await agentWithJobs(1);
    const r = await batch({ results: [result(jobs[0]!)], claim: { agentId: 'never-registered', max: 1, claimId: claimId() } });
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('AGENT_UNKNOWN');
    expect((await view(jobs[0]!.id)).state).toBe('running');
  });

  it('refuses bad bodies with 400', async () => {
    for (const body of [{ results: [] }, { results: [{ epoch: 1 }] }, { results: [result({ id: 'x', epoch: 1 }, { logTail: { offset: -1, data: '' } })] }, { results: [result({ id: 'x', epoch: 1 })], extra: 1 }]) {
      const r = await batch(body);
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBeTruthy();
    }
  });
});

describe('single complete with the new fields', () => {
  it('takes a log tail that closes the gap', async () => {
    const { jobs } = await agentWithJobs(1);
    const j = jobs[0]!;
    await appendLog(j, 0, 'abc');
    const r = await call(c.url, 'POST', `/v1/agent/jobs/${j.id}/complete`, { body: { epoch: j.epoch, outcome: 'succeeded', steps: [step], logBytes: 6, logTail: { offset: 3, data: 'def' } } });
    expect(r.body).toEqual({ accepted: true });
    expect((await call(c.url, 'GET', `/v1/jobs/${j.id}/log`)).text).toBe('abcdef');
    expect(await accepted(j.id)).toBe(1);
  });

  it('a refused complete-and-claim claims nothing (its jobs would be lost with the error)', async () => {
    const { agentId, jobs } = await agentWithJobs(1, 1);
    const j = jobs[0]!;
    const body = { epoch: j.epoch, outcome: 'succeeded', steps: [step], logBytes: 5, claim: { agentId, max: 1, claimId: claimId() } };
    const short = await call(c.url, 'POST', `/v1/agent/jobs/${j.id}/complete`, { body });
    expect(short.status).toBe(416);
    expect(short.body.error.code).toBe('LOG_INCOMPLETE');
    const stale = await call(c.url, 'POST', `/v1/agent/jobs/${j.id}/complete`, { body: { ...body, epoch: j.epoch + 1, logBytes: 0 } });
    expect(stale.status).toBe(409);
    // The queued job is still there for the complete that succeeds.
    const ok = await call(c.url, 'POST', `/v1/agent/jobs/${j.id}/complete`, { body: { ...body, logTail: { offset: 0, data: 'done\n' } } });
    expect(ok.body.accepted).toBe(true);
    expect(ok.body.jobs).toHaveLength(1);
  });
});
