// The controller on a three-master Redis Cluster: every script's keys share a slot (no CROSSSLOT), and
// wake-ups, leases and logs work as on a single Redis.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from 'ioredis';
import { createKeys } from '../../controller/src/keys.js';
import { parsePromText, sampleOf } from '../helpers/prom-text.js';
import { startRedisCluster, type PrivateCluster } from '../helpers/redis-cluster.js';
import { waitUntil } from '../helpers/wait.js';
import { agentBody, call, claimId, startController, type Running } from './controller-harness.js';

let cluster: PrivateCluster;
let c: Running;

beforeAll(async () => {
  cluster = await startRedisCluster();
  c = await startController('redis://127.0.0.1:1', { redisCluster: cluster.nodes, reapIntervalMs: 100 });
});
afterAll(async () => {
  await c?.close();
  await cluster?.stop();
});

describe('on a Redis Cluster', () => {
  it('runs the whole job path: batch, long-poll wake, log, complete, lease expiry, cancel, agents, monitor, /metrics', async () => {
    expect((await call(c.url, 'GET', '/healthz', { token: null })).status).toBe(200);
    // A lease far longer than any pause of a loaded machine; b's is made to lapse on purpose below.
    await call(c.url, 'POST', '/v1/agent/register', { body: { ...agentBody('cl-a', { os: 'linux' }), leaseMs: 60_000 } });
    const batch = await call(c.url, 'POST', '/v1/jobs', { body: [{ task: 'noop', labels: { os: 'linux' } }, { task: 'noop', agent: 'cl-a', idempotencyKey: 'k1' }] });
    expect(batch.status).toBe(201);
    const got = (await call(c.url, 'POST', '/v1/agent/claim', { body: { agentId: 'cl-a', max: 5, waitMs: 0, claimId: claimId() } })).body.jobs;
    expect(got).toHaveLength(2);
    const [a, b] = got;
    expect((await call(c.url, 'POST', `/v1/agent/jobs/${a.id}/log?epoch=${a.epoch}&offset=0`, { raw: 'hi\n' })).body.offset).toBe(3);
    const hb = await call(c.url, 'POST', '/v1/agent/heartbeat', { body: { agentId: 'cl-a', state: 'online', running: 2, leases: [{ id: a.id, epoch: a.epoch }] } });
    expect(hb.body.leases[a.id]).toBe('ok');
    expect((await call(c.url, 'POST', `/v1/agent/jobs/${a.id}/complete`, { body: { epoch: a.epoch, outcome: 'succeeded', steps: [], logBytes: 3 } })).body.accepted).toBe(true);
    expect((await call(c.url, 'GET', `/v1/jobs/${a.id}/log`)).text).toBe('hi\n');

    // b's lease lapses (its deadline set in the past, as if its agent had gone quiet): the sweeper
    // queues it again, and the next claim gets attempt 2.
    const admin = new Cluster(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: Number(n.split(':')[1]) })));
    try {
      await admin.zadd(createKeys(c.config.keyPrefix).leases, 0, b.id);
    } finally {
      admin.disconnect();
    }
    await waitUntil('b queued again after its lease', async () => (await call(c.url, 'GET', `/v1/jobs/${b.id}`)).body.state === 'queued');
    const again = (await call(c.url, 'POST', '/v1/agent/claim', { body: { agentId: 'cl-a', max: 1, waitMs: 0, claimId: claimId() } })).body.jobs[0];
    expect(again).toMatchObject({ id: b.id, attempt: 2 });
    await call(c.url, 'POST', `/v1/jobs/${b.id}/cancel`);
    expect((await call(c.url, 'POST', `/v1/agent/jobs/${b.id}/renew`, { body: { epoch: again.epoch } })).body.status).toBe('cancel');

    const waiting = call(c.url, 'POST', '/v1/agent/claim', { body: { agentId: 'cl-a', max: 1, waitMs: 30_000, claimId: claimId() } });
    await waitUntil('the claim waiting', () => c.controller.waitingClaims === 1);
    const { id } = (await call(c.url, 'POST', '/v1/jobs', { body: { task: 'noop', labels: { os: 'linux' } } })).body;
    expect((await waiting).body.jobs[0].id).toBe(id);

    await call(c.url, 'POST', '/v1/agent/monitor/metrics', { body: { agentId: 'cl-a', intervalSec: 10, samples: [{ ts: Date.now() }] } });
    const agents = (await call(c.url, 'GET', '/v1/agents')).body;
    expect(agents[0]).toMatchObject({ id: 'cl-a', state: 'online' });
    expect(agents[0].metrics).not.toBeNull();
    expect((await call(c.url, 'GET', '/v1/jobs?limit=10')).body.length).toBe(3);

    // The fleet script reads every kind of key at once: one slot, no CROSSSLOT.
    const m = parsePromText((await call<string>(c.url, 'GET', '/metrics')).text);
    const finished = (state: string) =>
      [...m].filter(([k]) => k.startsWith('httpagent_fleet_jobs_finished_total{') && k.includes(`state="${state}"`)).reduce((n, [, v]) => n + v, 0);
    expect([finished('succeeded'), finished('cancelled')]).toEqual([1, 0]);
    expect(sampleOf(m, 'httpagent_fleet_lease_expiries_total', { agent: 'cl-a' })).toBe(1);
    expect(sampleOf(m, 'httpagent_fleet_agents', { state: 'online' })).toBe(1);
  });
});
