// Bad input on every endpoint: malformed JSON, unknown fields, oversize bodies, missing or wrong
// tokens all get a clear 4xx {"error":{"code","message"}}; then a few hundred random bodies per
// endpoint, after which the controller still serves a job correctly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { AGENT_TOKEN, PLATFORM_TOKEN, agentBody, call, claimId, credentialFor, startController, type Running } from './controller-harness.js';

let redis: PrivateRedis;
let c: Running;
let jobId: string;

beforeAll(async () => {
  redis = await startRedis();
  c = await startController(redis.url, { bodyLimitBytes: 64 * 1024, logChunkMaxBytes: 16 * 1024, longPollMs: 20 });
  await call(c.url, 'POST', '/v1/agent/register', { body: agentBody('fuzz-agent') });
  jobId = (await call(c.url, 'POST', '/v1/jobs', { body: { task: 'noop', agent: 'nobody' } })).body.id;
});
afterAll(async () => {
  await c?.close();
  await redis?.stop();
});

/** The agent API: `call` presents the credential of the agent the request names (the harness's fleet). */
const AGENT = undefined;
type Endpoint = { method: string; path: () => string; token: string | undefined; json: boolean };
const endpoints: Endpoint[] = [
  { method: 'POST', path: () => '/v1/jobs', token: PLATFORM_TOKEN, json: true },
  { method: 'POST', path: () => `/v1/jobs/${jobId}/cancel`, token: PLATFORM_TOKEN, json: true },
  { method: 'POST', path: () => '/v1/agent/register', token: AGENT, json: true },
  { method: 'POST', path: () => '/v1/agent/claim', token: AGENT, json: true },
  { method: 'POST', path: () => '/v1/agent/heartbeat', token: AGENT, json: true },
  { method: 'POST', path: () => `/v1/agent/jobs/${jobId}/renew`, token: AGENT, json: true },
  { method: 'POST', path: () => `/v1/agent/jobs/${jobId}/step`, token: AGENT, json: true },
  { method: 'POST', path: () => `/v1/agent/jobs/${jobId}/complete`, token: AGENT, json: true },
  { method: 'POST', path: () => '/v1/agent/monitor/metrics', token: AGENT, json: true },
  { method: 'POST', path: () => '/v1/agent/monitor/heartbeat', token: AGENT, json: true },
  { method: 'PUT', path: () => '/v1/agent/monitor/alert-state', token: AGENT, json: true },
  { method: 'POST', path: () => `/v1/agent/jobs/${jobId}/log?epoch=1&offset=0`, token: AGENT, json: false },
];
const reads: Endpoint[] = [
  { method: 'GET', path: () => '/v1/jobs', token: PLATFORM_TOKEN, json: false },
  { method: 'GET', path: () => `/v1/jobs/${jobId}`, token: PLATFORM_TOKEN, json: false },
  { method: 'GET', path: () => `/v1/jobs/${jobId}/log`, token: PLATFORM_TOKEN, json: false },
  { method: 'GET', path: () => '/v1/agents', token: PLATFORM_TOKEN, json: false },
  { method: 'GET', path: () => '/v1/agents/fuzz-agent/metrics', token: PLATFORM_TOKEN, json: false },
  { method: 'GET', path: () => '/v1/agent/monitor/alert-state?agentId=fuzz-agent', token: AGENT, json: false },
];

function expectError(r: { status: number; body: any }, status: number, code?: string): void {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(typeof r.body.error.code).toBe('string');
  expect(typeof r.body.error.message).toBe('string');
  if (code) expect(r.body.error.code).toBe(code);
}

describe('refusals with a code', () => {
  it.each([...endpoints, ...reads].map((e) => [`${e.method} ${e.path().replace(/\?.*/, '')}`, e] as const))('%s: no token, wrong token, the other side\'s token → 401', async (_n, e) => {
    expectError(await call(c.url, e.method, e.path(), { token: null }), 401, 'UNAUTHORIZED');
    expectError(await call(c.url, e.method, e.path(), { token: 'x'.repeat(40) }), 401, 'UNAUTHORIZED');
    const other = e.token === AGENT ? PLATFORM_TOKEN : await credentialFor(c.url, 'fuzz-agent');
    expectError(await call(c.url, e.method, e.path(), { token: other }), 401, 'UNAUTHORIZED');
    // The fleet-wide agent token of old opens nothing.
    expectError(await call(c.url, e.method, e.path(), { token: AGENT_TOKEN }), 401, 'UNAUTHORIZED');
  });

  it.each(endpoints.filter((e) => e.json).map((e) => [`${e.method} ${e.path()}`, e] as const))('%s: malformed JSON, unknown field, oversize', async (_n, e) => {
    expectError(await call(c.url, e.method, e.path(), { token: e.token, raw: '{"a":', contentType: 'application/json' }), 400, 'BAD_JSON');
    const unknown = await call(c.url, e.method, e.path(), { token: e.token, body: { surprise: 1 } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe('BAD_REQUEST');
    const big = { task: 'noop', params: { x: 'y'.repeat(100 * 1024) } };
    expectError(await call(c.url, e.method, e.path(), { token: e.token, body: big }), 413, 'BODY_TOO_LARGE');
    expectError(await call(c.url, e.method, e.path(), { token: e.token, raw: 'a=b', contentType: 'application/x-www-form-urlencoded' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('names the unknown field, in the same issues shape as the agent port', async () => {
    const r = await call(c.url, 'POST', '/v1/jobs', { body: { task: 'noop', prioirty: 3 } });
    expectError(r, 400, 'BAD_REQUEST');
    expect(r.body.error.issues).toEqual([{ path: 'prioirty', code: 'unrecognized_keys', message: 'unknown field "prioirty"' }]);
    expect(r.body.error.message).toContain('"prioirty"');
    const s = await call(c.url, 'POST', '/v1/jobs', { body: { steps: [{ task: 'noop', timeout: 3 }] } });
    expect(s.body.error.issues[0]).toMatchObject({ path: 'steps.0.timeout', code: 'unrecognized_keys' });
    // In a batch, the path starts with the job's index.
    const b = await call(c.url, 'POST', '/v1/jobs', { body: [{ task: 'noop' }, { task: 'noop', agent: 'no spaces' }] });
    expectError(b, 400, 'BAD_REQUEST');
    expect(b.body.error.issues[0]).toMatchObject({ path: '1.agent', code: 'invalid_format' });
    const q = await call(c.url, 'GET', '/v1/jobs?limit=0');
    expect(q.body.error.issues[0]).toMatchObject({ path: 'limit', code: 'too_small' });
    expect(q.body.error.message).toMatch(/^invalid query: limit: /);
  });

  it('takes every valid id in a path: a 128-character agent id, a job id with - and _', async () => {
    const agentId = `a${'b'.repeat(127)}`;
    const r = await call(c.url, 'GET', `/v1/agents/${agentId}/metrics`);
    expect(r.status, r.text).toBe(200);
    expectError(await call(c.url, 'GET', '/v1/jobs/old_base64url-id'), 404, 'JOB_NOT_FOUND');
    expectError(await call(c.url, 'GET', '/v1/jobs/has.dot'), 400, 'BAD_REQUEST');
  });

  it('log append: bad query, oversize chunk, unknown job', async () => {
    const q = await call(c.url, 'POST', `/v1/agent/jobs/${jobId}/log?epoch=x&offset=0`, { raw: 'a', contentType: 'application/octet-stream' });
    expectError(q, 400, 'BAD_REQUEST');
    const extra = await call(c.url, 'POST', `/v1/agent/jobs/${jobId}/log?epoch=1&offset=0&more=1`, { raw: 'a', contentType: 'application/octet-stream' });
    expectError(extra, 400, 'BAD_REQUEST');
    const big = await call(c.url, 'POST', `/v1/agent/jobs/${jobId}/log?epoch=1&offset=0`, { raw: Buffer.alloc(20 * 1024), contentType: 'application/octet-stream' });
    expectError(big, 413, 'BODY_TOO_LARGE');
    const missing = await call(c.url, 'POST', '/v1/agent/jobs/nope/log?epoch=1&offset=0', { raw: 'a', contentType: 'text/plain' });
    expectError(missing, 404, 'JOB_NOT_FOUND');
    // A queued job has no lease: any epoch is stale.
    expectError(await call(c.url, 'POST', `/v1/agent/jobs/${jobId}/log?epoch=1&offset=0`, { raw: 'a' }), 409, 'STALE_EPOCH');
  });

  it('reads: unknown job 404, bad query 400, unknown route 404', async () => {
    expectError(await call(c.url, 'GET', '/v1/jobs/does-not-exist'), 404, 'JOB_NOT_FOUND');
    expectError(await call(c.url, 'GET', '/v1/jobs/does-not-exist/log'), 404, 'JOB_NOT_FOUND');
    expectError(await call(c.url, 'GET', `/v1/jobs/${jobId}/log?offset=-3`), 400, 'BAD_REQUEST');
    expectError(await call(c.url, 'GET', '/v1/jobs?limit=0'), 400, 'BAD_REQUEST');
    expectError(await call(c.url, 'GET', '/v1/jobs?state=lost'), 400, 'BAD_REQUEST');
    expectError(await call(c.url, 'GET', '/v1/agents/x/metrics?since=yesterday'), 400, 'BAD_REQUEST');
    expectError(await call(c.url, 'GET', '/v1/nothing-here'), 404, 'NOT_FOUND');
    expectError(await call(c.url, 'GET', '/v1/agent/monitor/alert-state'), 400, 'BAD_REQUEST');
  });

  it('refuses an unknown task name and an empty batch', async () => {
    expectError(await call(c.url, 'POST', '/v1/jobs', { body: { task: '../../bin/sh' } }), 400, 'BAD_REQUEST');
    expectError(await call(c.url, 'POST', '/v1/jobs', { body: { task: '.hidden' } }), 400, 'BAD_REQUEST');
    expectError(await call(c.url, 'POST', '/v1/jobs', { body: [] }), 400, 'BAD_REQUEST');
    expectError(await call(c.url, 'POST', '/v1/jobs', { body: 'deploy' }), 400, 'BAD_REQUEST');
  });
});

/** A small seeded PRNG (mulberry32): the same random bodies on every run, so a failure reproduces. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIELDS = ['task', 'steps', 'params', 'agent', 'labels', 'priority', 'maxAttempts', 'timeoutSec', 'idempotencyKey', 'agentId', 'max', 'waitMs', 'claimId',
  'epoch', 'outcome', 'logBytes', 'index', 'state', 'leases', 'running', 'hostname', 'addresses', 'port', 'version', 'capacity', 'leaseMs', 'samples',
  'intervalSec', 'ttlSec', 'checks', 'exitCode', 'error', 'claim', '__proto__', 'constructor'];

function randomValue(rnd: () => number, depth = 0): unknown {
  const pick = Math.floor(rnd() * (depth > 2 ? 6 : 9));
  switch (pick) {
    case 0: return null;
    case 1: return rnd() < 0.5;
    case 2: return Math.floor((rnd() - 0.5) * 2 ** (rnd() * 60));
    case 3: return rnd() * 1e6 - 5e5;
    case 4: return ['', 'noop', 'fuzz-agent', 'running', 'succeeded', '../x', 'ü\u0000\ud800', 'k=v', 'a'.repeat(300)][Math.floor(rnd() * 9)];
    case 5: return Math.floor(rnd() * 4);
    case 6: return Array.from({ length: Math.floor(rnd() * 4) }, () => randomValue(rnd, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(rnd() * 6); i > 0; i--) o[FIELDS[Math.floor(rnd() * FIELDS.length)]!] = randomValue(rnd, depth + 1);
      return o;
    }
  }
}

describe('random bodies', () => {
  it('a few hundred random bodies per endpoint never get a 5xx, and the service still works after', async () => {
    const rnd = prng(20261125);
    let refused = 0;
    for (const e of endpoints) {
      for (let i = 0; i < 300; i += 10) {
        const batch = Array.from({ length: 10 }, () => {
          const v = randomValue(rnd);
          const raw = rnd() < 0.15 ? JSON.stringify(v).slice(0, Math.floor(rnd() * 20)) : JSON.stringify(v);
          return call(c.url, e.method, e.path(), { token: e.token, raw: raw ?? 'null', contentType: e.json ? 'application/json' : 'application/octet-stream' });
        });
        for (const r of await Promise.all(batch)) {
          expect(r.status, `${e.method} ${e.path()} → ${r.text}`).toBeLessThan(500);
          if (r.status >= 400) {
            expect(typeof r.body.error.code).toBe('string');
            refused++;
          }
        }
      }
    }
    expect(refused).toBeGreaterThan(endpoints.length * 200);

    // Still correct: a job goes through, and the job the fuzz aimed at is intact.
    expect((await call(c.url, 'GET', '/healthz', { token: null })).status).toBe(200);
    await call(c.url, 'POST', '/v1/agent/register', { body: agentBody('after-fuzz') });
    const { id } = (await call(c.url, 'POST', '/v1/jobs', { body: { task: 'noop', agent: 'after-fuzz' } })).body;
    const job = (await call(c.url, 'POST', '/v1/agent/claim', { body: { agentId: 'after-fuzz', max: 1, waitMs: 0, claimId: claimId() } })).body.jobs[0];
    expect(job.id).toBe(id);
    const done = await call(c.url, 'POST', `/v1/agent/jobs/${id}/complete`, { body: { epoch: job.epoch, outcome: 'succeeded', steps: [], logBytes: 0 } });
    expect(done.body.accepted).toBe(true);
    expect((await call(c.url, 'GET', `/v1/jobs/${id}`)).body.state).toBe('succeeded');
    expect(['queued', 'cancelled']).toContain((await call(c.url, 'GET', `/v1/jobs/${jobId}`)).body.state);
  });
});
