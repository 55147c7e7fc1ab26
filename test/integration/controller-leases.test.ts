// Leases, fencing and long-polls against a real controller pair on one Redis: re-delivery after a lost
// lease, maxAttempts, stale epochs refused, long-poll wake-ups across controllers, gone clients.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeys } from '../../controller/src/keys.js';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { waitUntil } from '../helpers/wait.js';
import { agentBody, call, claimId, startController, type Running } from './controller-harness.js';

let redis: PrivateRedis;
let c: Running;
let c2: Running;

beforeAll(async () => {
  redis = await startRedis();
  c = await startController(redis.url, { reapIntervalMs: 100 });
  // A second controller on the same Redis and key prefix: stateless, so either serves any agent.
  c2 = await startController(redis.url, { keyPrefix: c.config.keyPrefix, reapIntervalMs: 100 });
});
afterAll(async () => {
  await c2?.close();
  await c?.close();
  // Nothing leaked: closed controllers leave no connection behind.
  const admin = redis.client();
  const left = String(await admin.client('LIST')).split('\n').filter((l) => l.includes('name=httpagent-controller-'));
  admin.disconnect();
  await redis?.stop();
  expect(left).toEqual([]);
});

let n = 0;
async function register(labels: Record<string, string> = {}, leaseMs = 1000, on = c): Promise<string> {
  const id = `lease-agent-${++n}`;
  const r = await call(on.url, 'POST', '/v1/agent/register', { body: { ...agentBody(id, labels), leaseMs } });
  expect(r.body.leaseMs).toBe(leaseMs);
  return id;
}
const submit = (body: unknown, on = c) => call(on.url, 'POST', '/v1/jobs', { body });
const claim = (agentId: string, opts: { max?: number; waitMs?: number; on?: Running; signal?: AbortSignal } = {}) =>
  call((opts.on ?? c).url, 'POST', '/v1/agent/claim', {
    body: { agentId, max: opts.max ?? 1, waitMs: opts.waitMs ?? 0, claimId: claimId() },
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
const view = async (id: string) => (await call(c.url, 'GET', `/v1/jobs/${id}`)).body;
/** Resolves once `n` more claims than `before` wait in a long-poll across both controllers. */
const waiting = () => c.controller.waitingClaims + c2.controller.waitingClaims;
const waiters = (before: number, n: number) => waitUntil(`${n} claims waiting`, () => waiting() >= before + n);

describe('lost leases', () => {
  it('re-delivers a job whose lease expired, attempt + 1; the old epoch is refused everywhere', async () => {
    const dead = await register({ pool: 'redeliver' });
    const { id } = (await submit({ task: 'noop', labels: { pool: 'redeliver' } })).body;
    const first = (await claim(dead)).body.jobs[0];
    await call(c.url, 'POST', `/v1/agent/jobs/${id}/log?epoch=${first.epoch}&offset=0`, { raw: 'attempt one\n', contentType: 'application/octet-stream' });
    // The agent dies: no renewals. Past the lease the sweeper queues the job again.
    await waitUntil('the expired job queued again', async () => (await view(id)).state === 'queued');
    // The live agent takes the longest lease this controller grants, which outlasts the calls below on
    // any machine: only the dead one's may lapse.
    const alive = await register({ pool: 'redeliver' }, c.config.leaseMs);
    const second = (await claim(alive)).body.jobs[0];
    expect(second).toMatchObject({ id, attempt: 2, epoch: first.epoch + 1, logOffset: 0 });

    const oldLog = await call(c.url, 'POST', `/v1/agent/jobs/${id}/log?epoch=${first.epoch}&offset=12`, { raw: 'late\n', contentType: 'application/octet-stream' });
    expect(oldLog.status).toBe(409);
    expect(oldLog.body.error.code).toBe('STALE_EPOCH');
    const oldRenew = await call(c.url, 'POST', `/v1/agent/jobs/${id}/renew`, { body: { epoch: first.epoch } });
    expect(oldRenew.body.error.code).toBe('STALE_EPOCH');
    const oldDone = await call(c.url, 'POST', `/v1/agent/jobs/${id}/complete`, { body: { epoch: first.epoch, outcome: 'succeeded', steps: [], logBytes: 0 } });
    expect(oldDone.status).toBe(409);
    expect(oldDone.body.error.code).toBe('STALE_EPOCH');
    const hb = await call(c.url, 'POST', '/v1/agent/heartbeat', { body: { agentId: dead, state: 'online', running: 1, leases: [{ id, epoch: first.epoch }] } });
    expect(hb.body.leases[id]).toBe('stale');

    await call(c.url, 'POST', `/v1/agent/jobs/${id}/log?epoch=${second.epoch}&offset=0`, { raw: 'attempt two\n', contentType: 'application/octet-stream' });
    const done = await call(c2.url, 'POST', `/v1/agent/jobs/${id}/complete`, { body: { epoch: second.epoch, outcome: 'succeeded', steps: [], logBytes: 12 } });
    expect(done.body).toEqual({ accepted: true });
    const v = await view(id);
    expect(v).toMatchObject({ state: 'succeeded', attempt: 2, agent: alive });
    const log = (await call(c.url, 'GET', `/v1/jobs/${id}/log`)).text;
    expect(log.startsWith('attempt one\n')).toBe(true);
    expect(log.endsWith('attempt two\n')).toBe(true);
    expect(log).toContain('attempt 2');
  });

  it('a lease kept alive by heartbeats is not taken away', async () => {
    const agent = await register({ pool: 'kept' });
    const { id } = (await submit({ task: 'noop', labels: { pool: 'kept' } })).body;
    const job = (await claim(agent)).body.jobs[0];
    const admin = redis.client();
    try {
      const keys = createKeys(c.config.keyPrefix);
      const firstDeadline = Number(await admin.zscore(keys.leases, id));
      const redisNow = async () => {
        const [sec, usec] = await admin.time();
        return Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
      };
      // Heartbeats as a live agent sends them (a third of the lease apart) until the first lease's
      // deadline is behind Redis's clock; then a sweep of each controller must leave the job alone.
      let heartbeats = 0;
      await waitUntil(
        'the first lease deadline to pass, with the lease renewed by heartbeats',
        async () => {
          const hb = await call(c.url, 'POST', '/v1/agent/heartbeat', { body: { agentId: agent, state: 'online', running: 1, leases: [{ id, epoch: job.epoch }] } });
          expect(hb.body.leases[id]).toBe('ok');
          heartbeats++;
          return (await redisNow()) > firstDeadline;
        },
        { intervalMs: 300 },
      );
      expect(heartbeats).toBeGreaterThan(1);
      expect(await c.controller.reaper.sweep()).toBe(0);
      expect(await c2.controller.reaper.sweep()).toBe(0);
      expect(await view(id)).toMatchObject({ state: 'running', attempt: 1 });
    } finally {
      admin.disconnect();
    }
  });

  it('fails a job with a clear error once maxAttempts leases have expired', async () => {
    const agent = await register({ pool: 'doomed' });
    const { id } = (await submit({ task: 'noop', labels: { pool: 'doomed' }, maxAttempts: 2 })).body;
    expect((await claim(agent)).body.jobs[0].attempt).toBe(1);
    expect((await claim(agent, { waitMs: 5000 })).body.jobs[0]).toMatchObject({ id, attempt: 2 });
    const v = await waitUntil('the job to fail', async () => {
      const x = await view(id);
      return x.state === 'failed' ? x : undefined;
    });
    expect(v.error).toMatch(/lease expired .* after 2 attempts/);
    expect(v.steps[0].state).toBe('skipped'); // never reported started
  });

  it('a running job whose cancel was requested ends cancelled when its lease expires', async () => {
    const agent = await register({ pool: 'cancel-expire' });
    const { id } = (await submit({ task: 'noop', labels: { pool: 'cancel-expire' } })).body;
    await claim(agent);
    await call(c.url, 'POST', `/v1/jobs/${id}/cancel`);
    const v = await waitUntil('the job to end', async () => {
      const x = await view(id);
      return x.state !== 'running' ? x : undefined;
    });
    expect(v.state).toBe('cancelled');
  });

  it('an unknown agent is told to register again', async () => {
    const r = await claim('never-registered');
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('AGENT_UNKNOWN');
    const hb = await call(c.url, 'POST', '/v1/agent/heartbeat', { body: { agentId: 'never-registered', state: 'online', running: 0, leases: [] } });
    expect(hb.body.error.code).toBe('AGENT_UNKNOWN');
  });
});

describe('long-poll', () => {
  it('wakes a waiting claim when a matching job is queued', async () => {
    const agent = await register({ pool: 'lp' }, 10_000);
    const before = waiting();
    const pending = claim(agent, { waitMs: 20_000 });
    await waiters(before, 1);
    const { id } = (await submit({ task: 'noop', labels: { pool: 'lp' } })).body;
    const got = await pending;
    expect(got.body.jobs.map((j: { id: string }) => j.id)).toEqual([id]);
  });

  it('answers empty when nothing comes within waitMs', async () => {
    const agent = await register({ pool: 'lp-empty' }, 10_000);
    const r = await claim(agent, { waitMs: 300 });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ jobs: [] });
  });

  it('wakes a claim waiting on one controller for a job queued through the other', async () => {
    const agent = await register({ pool: 'two' }, 10_000, c2);
    const before = c2.controller.waitingClaims;
    const pending = claim(agent, { waitMs: 20_000, on: c2 });
    await waitUntil('the claim waiting on the second controller', () => c2.controller.waitingClaims > before);
    const { id } = (await submit({ task: 'noop', agent }, c)).body;
    expect((await pending).body.jobs.map((j: { id: string }) => j.id)).toEqual([id]);
  });

  it('one job for three waiters: exactly one gets it, the others time out empty', async () => {
    const agents = [await register({ pool: 'herd' }, 10_000), await register({ pool: 'herd' }, 10_000), await register({ pool: 'herd' }, 10_000)];
    const before = waiting();
    const waits = agents.map((a) => claim(a, { waitMs: 3000 }));
    await waiters(before, 3);
    const { id } = (await submit({ task: 'noop', labels: { pool: 'herd' } })).body;
    const got = (await Promise.all(waits)).flatMap((r) => r.body.jobs.map((j: { id: string }) => j.id));
    expect(got).toEqual([id]);
  });

  it('hundreds of waiting claims hold no Redis connection of their own', async () => {
    const agents = await Promise.all(Array.from({ length: 200 }, (_, i) => register({ pool: `many-${i}` }, 10_000)));
    const before = waiting();
    const waits = agents.map((a, i) => claim(a, { waitMs: 30_000, on: i % 2 ? c : c2 }));
    await waiters(before, 200);
    const admin = redis.client();
    try {
      const clients = String(await admin.client('LIST')).split('\n').filter((l) => l.includes('name=httpagent-controller-'));
      // Two controllers, each one command and one subscriber connection.
      expect(clients).toHaveLength(4);
      // Every waiter is woken by its own job.
      const ids = await Promise.all(agents.map(async (a) => (await submit({ task: 'noop', agent: a })).body.id));
      const got = await Promise.all(waits);
      expect(got.map((r) => r.body.jobs[0]?.id)).toEqual(ids);
    } finally {
      admin.disconnect();
    }
  });

  it('a client that hangs up while waiting gets nothing popped for it', async () => {
    const gone = await register({ pool: 'hangup' }, 10_000);
    const ac = new AbortController();
    const before = waiting();
    const pending = claim(gone, { waitMs: 20_000, signal: ac.signal }).catch((e: Error) => e);
    await waiters(before, 1);
    ac.abort();
    expect(await pending).toBeInstanceOf(Error);
    // The controller drops the waiter once it sees the socket close; a job queued after that has no one to wake.
    await waitUntil('the waiter of the gone client dropped', () => waiting() === before);
    const { id } = (await submit({ task: 'noop', labels: { pool: 'hangup' } })).body;
    expect((await view(id)).state).toBe('queued');
    const other = await register({ pool: 'hangup' }, 10_000);
    expect((await claim(other)).body.jobs.map((j: { id: string }) => j.id)).toEqual([id]);
  });
});
