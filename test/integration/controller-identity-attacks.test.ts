// Attacks from one test server, which runs the code under test and so may be hostile: holding only its
// own credential (host-a), it tries to act for another host (host-b) and for made-up ones. Regressions of
// the fleet-wide agent token, under which a server registered as another agent id, claimed that agent's
// job (and the secret in its params), posted a forged log and a `complete`, all accepted; and filled
// Redis with metrics for made-up agent ids until POST /v1/jobs answered 500. Every refusal here is
// checked against a byte-for-byte snapshot of Redis: nothing changed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeys, type Keys } from '../../controller/src/keys.js';
import { enrollAgent } from '../helpers/identity.js';
import { snapshotDiff, snapshotKeys } from '../helpers/redis-snapshot.js';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { ENROLL_TOKEN, agentBody, call, claimId, credentialFor, startController, type Reply, type Running } from './controller-harness.js';

let redis: PrivateRedis;
let c: Running;
let keys: Keys;
let credA: string;
/** host-b's job, leased to it, with a secret in its params. */
let job: { id: string; epoch: number };
const SECRET = 'db-password-of-host-b';

beforeAll(async () => {
  redis = await startRedis();
  // Long leases: nothing may expire (and so change Redis) while the attacks run.
  c = await startController(redis.url, { leaseMs: 600_000 });
  keys = createKeys(c.config.keyPrefix);
  credA = await enrollAgent(c.url, ENROLL_TOKEN, 'host-a');
  expect((await call(c.url, 'POST', '/v1/agent/register', { token: credA, body: { ...agentBody('host-a'), leaseMs: 600_000 } })).status).toBe(200);
  // host-b is honest: the harness presents host-b's own credential for it.
  await call(c.url, 'POST', '/v1/agent/register', { body: { ...agentBody('host-b'), leaseMs: 600_000 } });
  const { id } = (await call(c.url, 'POST', '/v1/jobs', { body: { task: 'deploy', agent: 'host-b', params: { password: SECRET } } })).body;
  const claimed = (await call(c.url, 'POST', '/v1/agent/claim', { body: { agentId: 'host-b', max: 1, waitMs: 0, claimId: claimId() } })).body.jobs[0];
  job = { id, epoch: claimed.epoch };
  // Two appends by host-b: after the first, this controller knows where the attempt's log is stored, so
  // a large chunk for the same epoch would take the fast path (RPUSH before the script's checks).
  await call(c.url, 'POST', `/v1/agent/jobs/${id}/log?epoch=${job.epoch}&offset=0`, { raw: 'b'.repeat(100), contentType: 'application/octet-stream' });
});
afterAll(async () => {
  await c?.close();
  await redis?.stop();
});

/** A request by host-a with its own, valid credential. */
const asA = (method: string, path: string, body?: unknown, raw?: Buffer | string) =>
  call(c.url, method, path, raw !== undefined ? { token: credA, raw, contentType: 'application/octet-stream' } : { token: credA, body });

function expectRefused(r: Reply, status: number, code: string): void {
  expect(r.status, `${code}: ${r.text}`).toBe(status);
  expect(r.body.error.code).toBe(code);
}

/** Runs `attack` and proves Redis holds exactly what it held before (host-a's last-use stamp and the dashboard ticker's writes aside). */
async function leavesNoTrace(attack: () => Promise<void>): Promise<void> {
  const admin = redis.client();
  try {
    // Also left out: what the dashboard's ticker writes on its own, the minute figures and an agent falling
    // silent on the event stream (checked below: the attack itself announces nothing).
    const skip = (k: string) => k === keys.credentialUse || k === keys.events || k.startsWith(keys.minuteStats(0).slice(0, -1));
    const before = await snapshotKeys(admin, c.config.keyPrefix, skip);
    const lastEvent = ((await admin.xrevrange(keys.events, '+', '-', 'COUNT', 1)) as [string, string[]][])[0]?.[0] ?? '0-0';
    await attack();
    expect(snapshotDiff(before, await snapshotKeys(admin, c.config.keyPrefix, skip))).toEqual([]);
    const announced = ((await admin.xrange(keys.events, `(${lastEvent}`, '+')) as [string, string[]][]).map(([, f]) => JSON.parse(f[1]!) as { type: string; state?: string });
    expect(announced.filter((e) => !(e.type === 'agent' && e.state === 'offline'))).toEqual([]);
  } finally {
    admin.disconnect();
  }
}

describe('one host acting for another, with its own credential', () => {
  it('registering as host-b, claiming its job (and its secret), claiming through a complete: 403, nothing changed', async () => {
    await leavesNoTrace(async () => {
      expectRefused(await asA('POST', '/v1/agent/register', agentBody('host-b')), 403, 'AGENT_MISMATCH');
      const claim = await asA('POST', '/v1/agent/claim', { agentId: 'host-b', max: 10, waitMs: 0, claimId: claimId() });
      expectRefused(claim, 403, 'AGENT_MISMATCH');
      expect(claim.text).not.toContain(SECRET);
      const viaComplete = await asA('POST', `/v1/agent/jobs/${job.id}/complete`, {
        epoch: job.epoch, outcome: 'succeeded', steps: [], logBytes: 100, claim: { agentId: 'host-b', max: 1, claimId: claimId() },
      });
      expectRefused(viaComplete, 403, 'AGENT_MISMATCH');
      const batch = await asA('POST', '/v1/agent/complete', { results: [{ id: job.id, epoch: 1, outcome: 'failed', steps: [], logBytes: 0 }], claim: { agentId: 'host-b', max: 1, claimId: claimId() } });
      expectRefused(batch, 403, 'AGENT_MISMATCH');
    });
  });

  it("renew, step, log (both paths), complete, batched complete, heartbeat on host-b's lease with the right epoch: 403, nothing changed", async () => {
    const { id, epoch } = job;
    await leavesNoTrace(async () => {
      expectRefused(await asA('POST', `/v1/agent/jobs/${id}/renew`, { epoch }), 403, 'AGENT_MISMATCH');
      expectRefused(await asA('POST', `/v1/agent/jobs/${id}/step`, { epoch, index: 0, state: 'succeeded', exitCode: 0 }), 403, 'AGENT_MISMATCH');
      expectRefused(await asA('POST', `/v1/agent/jobs/${id}/log?epoch=${epoch}&offset=100`, undefined, 'forged log line\n'), 403, 'AGENT_MISMATCH');
      // 32 KiB: the fast path, where the bytes are pushed before the script judges them (and undone).
      expectRefused(await asA('POST', `/v1/agent/jobs/${id}/log?epoch=${epoch}&offset=100`, undefined, Buffer.alloc(32 * 1024, 'f')), 403, 'AGENT_MISMATCH');
      expectRefused(await asA('POST', `/v1/agent/jobs/${id}/complete`, { epoch, outcome: 'succeeded', steps: [], logBytes: 100 }), 403, 'AGENT_MISMATCH');
      const tail = { offset: 100, data: 'forged tail\n' };
      expectRefused(await asA('POST', `/v1/agent/jobs/${id}/complete`, { epoch, outcome: 'succeeded', steps: [], logBytes: 112, logTail: tail }), 403, 'AGENT_MISMATCH');
      const batch = await asA('POST', '/v1/agent/complete', { results: [{ id, epoch, outcome: 'succeeded', steps: [], logBytes: 100 }] });
      expectRefused(batch, 403, 'AGENT_MISMATCH');
      const hb = await asA('POST', '/v1/agent/heartbeat', { agentId: 'host-a', state: 'online', running: 1, leases: [{ id, epoch }] });
      expectRefused(hb, 403, 'AGENT_MISMATCH');
      // A stale epoch is the old answer (an agent whose lost job went elsewhere must hear STALE_EPOCH).
      expectRefused(await asA('POST', `/v1/agent/jobs/${id}/renew`, { epoch: epoch + 1 }), 409, 'STALE_EPOCH');
    });
    // host-b's job is untouched and host-b finishes it.
    const view = (await call(c.url, 'GET', `/v1/jobs/${id}`)).body;
    expect(view).toMatchObject({ state: 'running', agent: 'host-b', logBytes: 100 });
    expect(view.steps[0].state).toBe('pending');
    const done = await call(c.url, 'POST', `/v1/agent/jobs/${id}/complete`, { body: { epoch, outcome: 'succeeded', steps: [], logBytes: 100 } });
    expect(done.body).toEqual({ accepted: true });
    expect((await call(c.url, 'GET', `/v1/jobs/${id}/log`)).text).toBe('b'.repeat(100));
    // Once finished, host-a cannot learn how: its "duplicate" would say host-b's result was taken.
    expectRefused(await asA('POST', `/v1/agent/jobs/${id}/complete`, { epoch, outcome: 'succeeded', steps: [], logBytes: 100 }), 403, 'AGENT_MISMATCH');
  });

  it("monitor calls for host-c and host-b (metrics, heartbeat, alert state): 403, nothing changed", async () => {
    await leavesNoTrace(async () => {
      expectRefused(await asA('POST', '/v1/agent/monitor/metrics', { agentId: 'host-c', intervalSec: 10, samples: [{ ts: Date.now(), cpu: 1 }] }), 403, 'AGENT_MISMATCH');
      expectRefused(await asA('POST', '/v1/agent/monitor/heartbeat', { agentId: 'host-c', ttlSec: 30 }), 403, 'AGENT_MISMATCH');
      expectRefused(await asA('PUT', '/v1/agent/monitor/alert-state', { agentId: 'host-b', state: { forged: true } }), 403, 'AGENT_MISMATCH');
      expectRefused(await asA('GET', '/v1/agent/monitor/alert-state?agentId=host-b'), 403, 'AGENT_MISMATCH');
    });
  });

  it('queueing a job for host-b or by labels through the agent API: 403, nothing changed', async () => {
    await leavesNoTrace(async () => {
      expectRefused(await asA('POST', '/v1/agent/jobs', { task: 'deploy', agent: 'host-b' }), 403, 'AGENT_MISMATCH');
      expectRefused(await asA('POST', '/v1/agent/jobs', { task: 'deploy', labels: { pool: 'prod' } }), 403, 'AGENT_MISMATCH');
      expectRefused(await asA('POST', '/v1/agent/jobs', [{ task: 'deploy' }]), 400, 'BAD_REQUEST');
    });
  });

  it("host-a's secret under host-b's id, a made-up credential, the platform token: 401, nothing changed", async () => {
    const secretA = credA.split(':')[2]!;
    await leavesNoTrace(async () => {
      const spoof = await call(c.url, 'POST', '/v1/agent/claim', { token: `ha1:host-b:${secretA}`, body: { agentId: 'host-b', max: 1, waitMs: 0, claimId: claimId() } });
      expectRefused(spoof, 401, 'UNAUTHORIZED');
      const madeUp = `ha1:host-b:${'A'.repeat(43)}`;
      expectRefused(await call(c.url, 'POST', '/v1/agent/heartbeat', { token: madeUp, body: { agentId: 'host-b', state: 'online', running: 0, leases: [] } }), 401, 'UNAUTHORIZED');
      expectRefused(await call(c.url, 'POST', '/v1/agent/register', { token: c.config.platformToken, body: agentBody('host-b') }), 401, 'UNAUTHORIZED');
      // And a host's credential opens nothing on the platform API.
      expectRefused(await call(c.url, 'GET', '/v1/agents', { token: credA }), 401, 'UNAUTHORIZED');
      expectRefused(await call(c.url, 'POST', '/v1/agents/host-b/token', { token: credA }), 401, 'UNAUTHORIZED');
    });
  });
});

describe('the metrics flood for made-up agent ids', () => {
  it('28 pushes of ~1 MiB for made-up ids are refused; Redis holds nothing of them and POST /v1/jobs still works', async () => {
    const sample = (i: number) => ({ ts: Date.now() + i, blob: 'x'.repeat(32 * 1024) });
    await leavesNoTrace(async () => {
      for (let i = 0; i < 28; i++) {
        const body = { agentId: `ghost-${i}`, intervalSec: 1, samples: Array.from({ length: 32 }, (_, k) => sample(k)) };
        expectRefused(await asA('POST', '/v1/agent/monitor/metrics', body), 403, 'AGENT_MISMATCH');
        // Without any credential the body is not even read.
        expectRefused(await call(c.url, 'POST', '/v1/agent/monitor/metrics', { token: null, body }), 401, 'UNAUTHORIZED');
      }
    });
    const submitted = await call(c.url, 'POST', '/v1/jobs', { body: { task: 'noop', agent: 'nobody' } });
    expect(submitted.status).toBe(201);
  });
});

describe('enrollment', () => {
  it('mints a credential once per live id: Redis holds its hash only; a live id is 409, a wrong token 401', async () => {
    const admin = redis.client();
    try {
      const first = await call(c.url, 'POST', '/v1/agent/enroll', { token: ENROLL_TOKEN, body: { agentId: 'host-e' } });
      expect(first.status).toBe(201);
      expect(first.body).toMatchObject({ agentId: 'host-e', issuedAt: expect.any(Number) });
      expect(first.body.credential).toMatch(/^ha1:host-e:[A-Za-z0-9_-]{43}$/);
      expect(first.body.portKeys).toHaveLength(1);
      const stored = (await admin.get(keys.credential('host-e')))!;
      const secret = first.body.credential.split(':')[2];
      expect(stored).not.toContain(secret);
      const { createHash } = await import('node:crypto');
      expect(JSON.parse(stored).hash).toBe(createHash('sha256').update(secret).digest('hex'));

      await leavesNoTrace(async () => {
        expectRefused(await call(c.url, 'POST', '/v1/agent/enroll', { token: ENROLL_TOKEN, body: { agentId: 'host-e' } }), 409, 'AGENT_ENROLLED');
        expectRefused(await call(c.url, 'POST', '/v1/agent/enroll', { token: credA, body: { agentId: 'host-f' } }), 401, 'UNAUTHORIZED');
        expectRefused(await call(c.url, 'POST', '/v1/agent/enroll', { token: c.config.platformToken, body: { agentId: 'host-f' } }), 401, 'UNAUTHORIZED');
        expectRefused(await call(c.url, 'POST', '/v1/agent/enroll', { token: ENROLL_TOKEN, body: { agentId: 'host f' } }), 400, 'BAD_REQUEST');
      });
      // The credential works, and register tells the agent the same port keys.
      const reg = await call(c.url, 'POST', '/v1/agent/register', { token: first.body.credential, body: agentBody('host-e') });
      expect(reg.body.portKeys).toEqual(first.body.portKeys);
    } finally {
      admin.disconnect();
    }
  });

  it('the fleet-wide agent token of old opens nothing', async () => {
    const { AGENT_TOKEN } = await import('./controller-harness.js');
    expectRefused(await call(c.url, 'POST', '/v1/agent/register', { token: AGENT_TOKEN, body: agentBody('host-b') }), 401, 'UNAUTHORIZED');
  });

  it('GET /v1/agents shows each credential: issued, last used, never the credential', async () => {
    await credentialFor(c.url, 'host-b');
    const agents = (await call(c.url, 'GET', '/v1/agents')).body as Array<{ id: string; credential: unknown }>;
    const a = agents.find((x) => x.id === 'host-a')!;
    expect(a.credential).toEqual({ issuedAt: expect.any(Number), lastUsedAt: expect.any(Number) });
    expect(JSON.stringify(agents)).not.toContain(credA.split(':')[2]);
  });
});
