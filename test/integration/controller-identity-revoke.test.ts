// Revocation, credential bookkeeping and port tokens against two real controllers on one Redis: a revoked
// agent's next call is refused at once (401 CREDENTIAL_REVOKED), on the controller that revoked it
// synchronously and on the other by the script (claims) and the revocation feed (everything else); the
// jobs it held are re-delivered; a port token minted for one agent verifies for that agent only.
import { calculateJwkThumbprint, decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeys } from '../../controller/src/keys.js';
import { enrollAgent } from '../helpers/identity.js';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { ENROLL_TOKEN, agentBody, call, claimId, startController, type Reply, type Running } from './controller-harness.js';

let redis: PrivateRedis;
let c1: Running;
let c2: Running;

beforeAll(async () => {
  redis = await startRedis();
  c1 = await startController(redis.url, { agentSubmitPerMin: 3 });
  c2 = await startController(redis.url, { keyPrefix: c1.config.keyPrefix, agentSubmitPerMin: 3 });
});
afterAll(async () => {
  await c2?.close();
  await c1?.close();
  await redis?.stop();
});

function expectRefused(r: Reply, status: number, code: string): void {
  expect(r.status, `${code}: ${r.text}`).toBe(status);
  expect(r.body.error.code).toBe(code);
}

async function until<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const heartbeat = (on: Running, agentId: string, token: string) =>
  call(on.url, 'POST', '/v1/agent/heartbeat', { token, body: { agentId, state: 'online', running: 0, leases: [] } });

describe('revocation', () => {
  it("refuses the revoked agent's next call at once on both controllers and re-delivers the job it held", async () => {
    const cred = await enrollAgent(c1.url, ENROLL_TOKEN, 'rv-a');
    await call(c1.url, 'POST', '/v1/agent/register', { token: cred, body: agentBody('rv-a', { pool: 'rv' }) });
    const { id } = (await call(c1.url, 'POST', '/v1/jobs', { body: { task: 'deploy', labels: { pool: 'rv' } } })).body;
    const held = (await call(c1.url, 'POST', '/v1/agent/claim', { token: cred, body: { agentId: 'rv-a', max: 1, waitMs: 0, claimId: claimId() } })).body.jobs[0];
    expect(held.id).toBe(id);
    // The other controller has the credential in its cache now.
    expect((await heartbeat(c2, 'rv-a', cred)).status).toBe(200);

    const del = await call(c1.url, 'DELETE', '/v1/agents/rv-a');
    expect(del.status).toBe(200);
    expect(del.body).toEqual({ agentId: 'rv-a', revoked: true, requeued: 1, cancelled: 0 });

    // The controller that revoked: refused before it even answered the DELETE.
    expectRefused(await heartbeat(c1, 'rv-a', cred), 401, 'CREDENTIAL_REVOKED');
    // The other: a claim is refused by the script whatever its cache holds...
    expectRefused(await call(c2.url, 'POST', '/v1/agent/claim', { token: cred, body: { agentId: 'rv-a', max: 1, waitMs: 0, claimId: claimId() } }), 401, 'CREDENTIAL_REVOKED');
    // ...its lease is gone (the old attempt is stale), and the feed empties the cache for everything else.
    const late = await call(c2.url, 'POST', `/v1/agent/jobs/${id}/complete`, { token: cred, body: { epoch: held.epoch, outcome: 'succeeded', steps: [], logBytes: 0 } });
    expect([401, 409]).toContain(late.status);
    await until('the revocation to reach the second controller', () => heartbeat(c2, 'rv-a', cred), (r) => r.status === 401);
    expectRefused(await heartbeat(c2, 'rv-a', cred), 401, 'CREDENTIAL_REVOKED');

    // The job goes to another agent, as attempt 2, saying why.
    const queued = (await call(c1.url, 'GET', `/v1/jobs/${id}`)).body;
    expect(queued).toMatchObject({ state: 'queued', error: expect.stringContaining('rv-a was revoked') });
    await call(c2.url, 'POST', '/v1/agent/register', { body: agentBody('rv-b', { pool: 'rv' }) });
    const again = (await call(c2.url, 'POST', '/v1/agent/claim', { body: { agentId: 'rv-b', max: 1, waitMs: 0, claimId: claimId() } })).body.jobs[0];
    expect(again).toMatchObject({ id, attempt: 2, epoch: held.epoch + 1 });

    // The platform sees it revoked, with no credential.
    const listed = ((await call(c1.url, 'GET', '/v1/agents')).body as Array<{ id: string; state: string; credential: unknown }>).find((a) => a.id === 'rv-a');
    expect(listed).toMatchObject({ state: 'revoked', credential: null });
    // No port token for it.
    expectRefused(await call(c1.url, 'POST', '/v1/agents/rv-a/token', { body: {} }), 404, 'AGENT_NOT_FOUND');
  });

  it('a claim is refused by the script even on a controller that missed the revocation message', async () => {
    const cred = await enrollAgent(c1.url, ENROLL_TOKEN, 'rv-m');
    await call(c2.url, 'POST', '/v1/agent/register', { token: cred, body: agentBody('rv-m') });
    await call(c1.url, 'POST', '/v1/jobs', { body: { task: 'deploy', agent: 'rv-m' } });
    // Revoked in Redis with no message published: c2's cache still trusts the credential.
    const keys = createKeys(c1.config.keyPrefix);
    const admin = redis.client();
    const stored = JSON.parse((await admin.get(keys.credential('rv-m')))!) as { hash: string };
    await admin.multi().set(keys.revokedCredential('rv-m'), stored.hash).del(keys.credential('rv-m')).exec();
    admin.disconnect();
    expect((await heartbeat(c2, 'rv-m', cred)).status).toBe(200);
    const claim = await call(c2.url, 'POST', '/v1/agent/claim', { token: cred, body: { agentId: 'rv-m', max: 1, waitMs: 0, claimId: claimId() } });
    expectRefused(claim, 401, 'CREDENTIAL_REVOKED');
    const viaComplete = await call(c2.url, 'POST', '/v1/agent/complete', {
      token: cred,
      body: { results: [{ id: 'nosuchjob', epoch: 1, outcome: 'succeeded', steps: [], logBytes: 0 }], claim: { agentId: 'rv-m', max: 1, claimId: claimId() } },
    });
    expectRefused(viaComplete, 401, 'CREDENTIAL_REVOKED');
  });

  it('a revoked id can be enrolled again; the old credential stays revoked, the new one works', async () => {
    const old = await enrollAgent(c1.url, ENROLL_TOKEN, 'rv-c');
    await call(c1.url, 'POST', '/v1/agent/register', { token: old, body: agentBody('rv-c') });
    expect((await call(c2.url, 'DELETE', '/v1/agents/rv-c')).body).toMatchObject({ revoked: true, requeued: 0 });
    // Revoking again changes nothing and says so the same way.
    expect((await call(c1.url, 'DELETE', '/v1/agents/rv-c')).status).toBe(200);
    const fresh = await enrollAgent(c1.url, ENROLL_TOKEN, 'rv-c');
    expect(fresh).not.toBe(old);
    expect((await call(c2.url, 'POST', '/v1/agent/register', { token: fresh, body: agentBody('rv-c') })).status).toBe(200);
    expectRefused(await call(c2.url, 'POST', '/v1/agent/register', { token: old, body: agentBody('rv-c') }), 401, 'CREDENTIAL_REVOKED');
  });

  it('a job whose cancel was requested ends cancelled when its agent is revoked', async () => {
    const cred = await enrollAgent(c1.url, ENROLL_TOKEN, 'rv-d');
    await call(c1.url, 'POST', '/v1/agent/register', { token: cred, body: agentBody('rv-d') });
    const { id } = (await call(c1.url, 'POST', '/v1/jobs', { body: { task: 'deploy', agent: 'rv-d' } })).body;
    await call(c1.url, 'POST', '/v1/agent/claim', { token: cred, body: { agentId: 'rv-d', max: 1, waitMs: 0, claimId: claimId() } });
    await call(c1.url, 'POST', `/v1/jobs/${id}/cancel`);
    expect((await call(c1.url, 'DELETE', '/v1/agents/rv-d')).body).toMatchObject({ requeued: 0, cancelled: 1 });
    expect((await call(c1.url, 'GET', `/v1/jobs/${id}`)).body.state).toBe('cancelled');
  });

  it('an id never enrolled nor registered is 404', async () => {
    expectRefused(await call(c1.url, 'DELETE', '/v1/agents/nobody-here'), 404, 'AGENT_NOT_FOUND');
  });
});

describe('credential bookkeeping', () => {
  /** HSETs Redis ran since the last call (commands inside scripts count too). */
  async function hsetsDuring(fn: () => Promise<void>): Promise<number> {
    const admin = redis.client();
    try {
      const count = async () => Number(/cmdstat_hset:calls=(\d+)/.exec(await admin.info('commandstats'))?.[1] ?? 0);
      const before = await count();
      await fn();
      return (await count()) - before;
    } finally {
      admin.disconnect();
    }
  }

  it('lastUsedAt is written at most once per interval per agent, not per request', async () => {
    const quiet = await startController(redis.url, { keyPrefix: c1.config.keyPrefix }, { credentialCheck: { touchEveryMs: 3_600_000 } });
    const eager = await startController(redis.url, { keyPrefix: c1.config.keyPrefix }, { credentialCheck: { touchEveryMs: 0 } });
    try {
      const cred = await enrollAgent(c1.url, ENROLL_TOKEN, 'lu-a');
      const read = (on: Running) => call(on.url, 'GET', '/v1/agent/monitor/alert-state?agentId=lu-a', { token: cred });
      expect((await read(quiet)).status).toBe(200); // the first use is recorded
      const keys = createKeys(c1.config.keyPrefix);
      const admin = redis.client();
      const first = await until('the first use to be recorded', () => admin.hget(keys.credentialUse, 'lu-a'), (v) => v !== null);
      admin.disconnect();
      // A later request on the same connection to Redis runs after any write the calls queued before it.
      const settle = (on: Running) => call(on.url, 'GET', '/v1/agents');
      expect(await hsetsDuring(async () => {
        for (let i = 0; i < 20; i++) expect((await read(quiet)).status).toBe(200);
        await settle(quiet);
      })).toBe(0);
      expect(await hsetsDuring(async () => {
        for (let i = 0; i < 20; i++) expect((await read(eager)).status).toBe(200);
        await settle(eager);
      })).toBe(20);
      expect(Number(first)).toBeGreaterThan(0);
    } finally {
      await eager.close();
      await quiet.close();
    }
  });
});

describe('port tokens', () => {
  it('a token minted for one agent verifies with its key, for that audience only, and lives at most 5 minutes', async () => {
    const enroll = await call(c1.url, 'POST', '/v1/agent/enroll', { token: ENROLL_TOKEN, body: { agentId: 'pt-a' } });
    const [jwk] = enroll.body.portKeys;
    const key = await importJWK(jwk, 'EdDSA');
    const r = await call(c2.url, 'POST', '/v1/agents/pt-a/token', { body: { ttlSec: 120 } });
    expect(r.status).toBe(200);
    const { payload, protectedHeader } = await jwtVerify(r.body.token, key, { audience: 'pt-a', issuer: 'httpagent-controller', algorithms: ['EdDSA'] });
    expect(protectedHeader).toMatchObject({ alg: 'EdDSA', kid: jwk.kid });
    expect(jwk.kid).toBe(await calculateJwkThumbprint(jwk));
    expect(payload.exp! - payload.iat!).toBe(120);
    expect(r.body.expiresAt).toBe(payload.exp! * 1000);
    await expect(jwtVerify(r.body.token, key, { audience: 'pt-b' })).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' });

    // The default is short; more than 300 s is refused; so is an agent with no credential.
    const plain = await call(c1.url, 'POST', '/v1/agents/pt-a/token');
    const claims = JSON.parse(Buffer.from(plain.body.token.split('.')[1], 'base64url').toString());
    expect(claims.exp - claims.iat).toBeLessThanOrEqual(300);
    expect(decodeProtectedHeader(plain.body.token).alg).toBe('EdDSA');
    expectRefused(await call(c1.url, 'POST', '/v1/agents/pt-a/token', { body: { ttlSec: 301 } }), 400, 'BAD_REQUEST');
    expectRefused(await call(c1.url, 'POST', '/v1/agents/pt-nobody/token', { body: {} }), 404, 'AGENT_NOT_FOUND');
  });
});

describe('a job an agent queues for itself', () => {
  it("is its own, its idempotency keys are its own, and its minute's quota is 429 with Retry-After", async () => {
    const cred = await enrollAgent(c1.url, ENROLL_TOKEN, 'self-a');
    const platform = (await call(c1.url, 'POST', '/v1/jobs', { body: { task: 'deploy', agent: 'other', idempotencyKey: 'nightly' } })).body;
    const mine = await call(c1.url, 'POST', '/v1/agent/jobs', { token: cred, body: { task: 'report', idempotencyKey: 'nightly' } });
    expect(mine.status).toBe(201);
    expect(mine.body.id).not.toBe(platform.id);
    const view = (await call(c1.url, 'GET', `/v1/jobs/${mine.body.id}`)).body;
    expect(view).toMatchObject({ target: { agent: 'self-a' }, idempotencyKey: 'agent:self-a:nightly' });
    // The same key again is the same job (a schedule's retried run), and counts against the quota.
    const again = await call(c2.url, 'POST', '/v1/agent/jobs', { token: cred, body: { task: 'report', agent: 'self-a', idempotencyKey: 'nightly' } });
    expect(again.body).toMatchObject({ id: mine.body.id, duplicate: true });
    expect((await call(c1.url, 'POST', '/v1/agent/jobs', { token: cred, body: { task: 'report' } })).status).toBe(201);
    const over = await call(c2.url, 'POST', '/v1/agent/jobs', { token: cred, body: { task: 'report' } });
    expectRefused(over, 429, 'SUBMIT_QUOTA');
    expect(Number(over.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(over.headers['retry-after'])).toBeLessThanOrEqual(60);
  });
});
