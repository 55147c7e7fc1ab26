// GET /metrics on the controller: the fleet's numbers read from Redis (real controllers on a private
// Redis, real HTTP), so two controllers over one inbox report the same fleet; jobs by state and queue,
// lease expiries, scheduled runs filed under their schedule, agents and monitors by state, the platform
// token required unless metricsPublic is set, and a scrape whose Redis work does not grow with the jobs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scheduleKey } from '../../src/shared/protocol/schedule-key.js';
import { parsePromText, sampleOf, type Samples } from '../helpers/prom-text.js';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { waitUntil } from '../helpers/wait.js';
import { agentBody, call, claimId, credentialFor, startController, type Running } from './controller-harness.js';

let redis: PrivateRedis;
let c1: Running;
let c2: Running;

beforeAll(async () => {
  redis = await startRedis();
  c1 = await startController(redis.url, { offlineAfterMs: 60_000 });
  c2 = await startController(redis.url, { keyPrefix: c1.config.keyPrefix, offlineAfterMs: 60_000 });
});

afterAll(async () => {
  await c1?.close();
  await c2?.close();
  await redis?.stop();
});

async function metrics(on: Running): Promise<Samples> {
  const r = await call<string>(on.url, 'GET', '/metrics');
  expect(r.status).toBe(200);
  expect(String(r.headers['content-type'])).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePromText(r.text);
}

const register = async (agentId: string, labels: Record<string, string> = {}, leaseMs = 60_000, on = c1) => {
  const r = await call(on.url, 'POST', '/v1/agent/register', { body: { ...agentBody(agentId, labels), leaseMs } });
  expect(r.status).toBe(200);
};
const claim = async (agentId: string, max = 1, on = c1) => {
  const r = await call(on.url, 'POST', '/v1/agent/claim', { body: { agentId, max, waitMs: 0, claimId: claimId() } });
  expect(r.status).toBe(200);
  return r.body.jobs as Array<{ id: string; epoch: number }>;
};
const complete = async (job: { id: string; epoch: number }, outcome: 'succeeded' | 'failed', error?: string, on = c1) => {
  const r = await call(on.url, 'POST', `/v1/agent/jobs/${job.id}/complete`, { body: { epoch: job.epoch, outcome, steps: [], logBytes: 0, ...(error ? { error } : {}) } });
  expect(r.status).toBe(200);
};

describe('GET /metrics: the fleet, from Redis', () => {
  it('counts jobs by state and queue, finished jobs and lease expiries; two controllers report the same', async () => {
    await register('fm-a1', { role: 'db' }, 1000);
    const submit = async (body: unknown) => (await call(c1.url, 'POST', '/v1/jobs', { body })).body.id as string;
    const mine = await submit({ task: 'noop', agent: 'fm-a1' });
    const any = await submit({ task: 'noop' });
    // Nobody has role=web: these two wait, and the queue's head ages.
    await submit({ task: 'noop', labels: { role: 'web' } });
    await submit({ task: 'noop', labels: { role: 'web' } });
    const jobs = await claim('fm-a1', 2);
    expect(jobs.map((j) => j.id).sort()).toEqual([mine, any].sort());
    await complete(jobs.find((j) => j.id === mine)!, 'failed', 'exit 1');

    // The agent never renews `any`: its lease expires and the sweeper queues it again.
    const m = await waitUntil('the lease expiry counted', async () => {
      const s = await metrics(c1);
      return sampleOf(s, 'httpagent_fleet_lease_expiries_total', { agent: 'fm-a1' }) === 1 ? s : undefined;
    });
    expect(sampleOf(m, 'httpagent_fleet_jobs', { state: 'queued', queue: 'any' })).toBe(1);
    expect(sampleOf(m, 'httpagent_fleet_jobs', { state: 'queued', queue: 'sel:role=web' })).toBe(2);
    expect(sampleOf(m, 'httpagent_fleet_leases')).toBe(0);
    expect(sampleOf(m, 'httpagent_fleet_jobs_finished_total', { state: 'failed', queue: 'agent:fm-a1' })).toBe(1);
    expect(sampleOf(m, 'httpagent_fleet_queue_head_wait_seconds', { queue: 'sel:role=web' })).toBeGreaterThanOrEqual(0);
    expect(sampleOf(m, 'httpagent_fleet_agents', { state: 'online' })).toBe(1);
    expect(sampleOf(m, 'httpagent_fleet_agent_up', { agent: 'fm-a1' })).toBe(1);

    // Taken again, under a lease that lasts: running in its queue.
    await register('fm-a1', { role: 'db' });
    const again = await claim('fm-a1');
    expect(again.map((j) => j.id)).toEqual([any]);
    const [x, y] = await Promise.all([metrics(c1), metrics(c2)]);
    expect(sampleOf(x, 'httpagent_fleet_jobs', { state: 'running', queue: 'any' })).toBe(1);
    expect(sampleOf(x, 'httpagent_fleet_leases')).toBe(1);
    // Everything but the head's age (measured at each scrape's own instant) is the same from either controller.
    const steady = (s: Samples) => [...s].filter(([k]) => !k.startsWith('httpagent_fleet_queue_head_wait_seconds'));
    expect(steady(y)).toEqual(steady(x));
    await complete(again[0]!, 'succeeded', undefined, c2);
    expect(sampleOf(await metrics(c2), 'httpagent_fleet_jobs_finished_total', { state: 'succeeded', queue: 'any' })).toBe(1);
  });

  it("files scheduled runs under their schedule: the agent's monitor reads its own, /metrics counts them", async () => {
    await register('fm-s1');
    const runOnce = async (at: Date, outcome: 'succeeded' | 'failed', key = scheduleKey('fm-s1', 'upload', at)) => {
      const r = await call(c1.url, 'POST', '/v1/agent/jobs', { body: { task: 'upload-logs', idempotencyKey: key }, token: await credentialFor(c1.url, 'fm-s1') });
      expect(r.status).toBe(201);
      const [job] = await claim('fm-s1');
      expect(job!.id).toBe(r.body.id);
      await complete(job!, outcome, outcome === 'failed' ? 'receiver answered 500' : undefined);
      return job!.id;
    };
    const runs = async (asAgent = 'fm-s1') =>
      call(c1.url, 'GET', '/v1/agent/monitor/schedule-runs?agentId=fm-s1', { token: await credentialFor(c1.url, asAgent) });

    const failed = await runOnce(new Date('2026-01-01T00:00:00.000Z'), 'failed');
    const r = await runs();
    expect(r.status).toBe(200);
    expect(r.body.runs).toEqual([{ schedule: 'upload', jobId: failed, state: 'failed', finishedAt: expect.any(Number), error: 'receiver answered 500' }]);
    // A key naming another agent is not a run of this agent's schedule: nothing filed.
    await runOnce(new Date('2026-01-01T00:01:00.000Z'), 'succeeded', scheduleKey('fm-other', 'upload', new Date()));
    expect((await runs()).body.runs).toMatchObject([{ jobId: failed, state: 'failed' }]);
    // Another host's credential cannot read them.
    const other = await runs('fm-s2');
    expect(other.status).toBe(403);
    expect(other.body.error.code).toBe('AGENT_MISMATCH');

    let m = await metrics(c2);
    expect(sampleOf(m, 'httpagent_fleet_schedule_last_run_failed', { agent: 'fm-s1', schedule: 'upload' })).toBe(1);
    expect(sampleOf(m, 'httpagent_fleet_schedule_runs_total', { agent: 'fm-s1', schedule: 'upload', state: 'failed' })).toBe(1);

    const ok = await runOnce(new Date('2026-01-01T00:02:00.000Z'), 'succeeded');
    expect((await runs()).body.runs).toMatchObject([{ jobId: ok, state: 'succeeded', error: '' }]);
    m = await metrics(c1);
    expect(sampleOf(m, 'httpagent_fleet_schedule_last_run_failed', { agent: 'fm-s1', schedule: 'upload' })).toBe(0);
    expect(sampleOf(m, 'httpagent_fleet_schedule_runs_total', { agent: 'fm-s1', schedule: 'upload', state: 'succeeded' })).toBe(1);
  });

  it('reports lapsed monitors and offline agents, leaves revoked ones out; public only with metricsPublic', async () => {
    // Its own inbox, an offline threshold of a second, and no token needed.
    const c3 = await startController(redis.url, { offlineAfterMs: 1000, metricsPublic: true });
    try {
      for (const id of ['fm-l1', 'fm-l2', 'fm-l3']) await register(id, {}, 60_000, c3);
      const beat = async (agentId: string, ttlSec: number) =>
        expect((await call(c3.url, 'POST', '/v1/agent/monitor/heartbeat', { body: { agentId, ttlSec, checks: {} } })).status).toBe(200);
      await beat('fm-l1', 1);
      await beat('fm-l2', 600);
      await beat('fm-l3', 1);
      expect((await call(c3.url, 'DELETE', '/v1/agents/fm-l3')).status).toBe(200);

      const anon = async () => {
        const r = await call<string>(c3.url, 'GET', '/metrics', { token: null });
        expect(r.status).toBe(200);
        return parsePromText(r.text);
      };
      const m = await waitUntil('fm-l1 lapsed and offline', async () => {
        const s = await anon();
        return sampleOf(s, 'httpagent_fleet_monitor_lapsed', { agent: 'fm-l1' }) === 1 && sampleOf(s, 'httpagent_fleet_agent_up', { agent: 'fm-l1' }) === 0 ? s : undefined;
      });
      expect(sampleOf(m, 'httpagent_fleet_monitor_lapsed', { agent: 'fm-l2' })).toBe(0);
      expect(sampleOf(m, 'httpagent_fleet_monitors', { state: 'alive' })).toBe(1);
      // Revoked on purpose: in the counts, never in a per-host series an alert could fire on.
      expect(sampleOf(m, 'httpagent_fleet_agents', { state: 'revoked' })).toBe(1);
      expect(sampleOf(m, 'httpagent_fleet_agent_up', { agent: 'fm-l3' })).toBeUndefined();
      expect(sampleOf(m, 'httpagent_fleet_monitor_lapsed', { agent: 'fm-l3' })).toBeUndefined();
      expect(sampleOf(m, 'httpagent_fleet_agents', { state: 'offline' })).toBe(2);
    } finally {
      await c3.close();
    }

    for (const token of [null, 'not-the-platform-token-0123456789']) {
      const r = await call(c1.url, 'GET', '/metrics', { token });
      expect(r.status).toBe(401);
      expect(JSON.parse(r.text).error.code).toBe('UNAUTHORIZED');
    }
  });

  it("costs the same Redis work per scrape whatever number of finished jobs Redis keeps", async () => {
    const c4 = await startController(redis.url);
    try {
      await register('fm-b1', {}, 60_000, c4);
      const redisCmd = c4.clients.command;
      // The commands the fleet script reads with (the reapers' sweeps use others), counted by Redis itself:
      // calls made inside a script are counted per command.
      const READS = ['zcard', 'zrange', 'hmget', 'hget', 'hgetall', 'exists', 'smembers'];
      const oneScrape = async () => {
        await redisCmd.call('CONFIG', 'RESETSTAT');
        expect((await call(c4.url, 'GET', '/metrics')).status).toBe(200);
        const info = await redisCmd.info('commandstats');
        return READS.reduce((n, c) => n + Number(new RegExp(`^cmdstat_${c}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0), 0);
      };
      // The fewest of three: the controllers' own timers may read with the same commands inside the
      // window (seen once beside stress-ng: 13 against 12); they only ever add, a scrape never takes less.
      const scrapeCalls = async () => Math.min(await oneScrape(), await oneScrape(), await oneScrape());
      const before = await scrapeCalls();
      expect(before).toBeGreaterThan(0);
      const ids = (await call(c4.url, 'POST', '/v1/jobs', { body: Array.from({ length: 300 }, () => ({ task: 'noop' })) })).body.map((j: { id: string }) => j.id) as string[];
      for (let i = 0; i < ids.length; i += 50) {
        await Promise.all(ids.slice(i, i + 50).map(async (id) => expect((await call(c4.url, 'POST', `/v1/jobs/${id}/cancel`)).status).toBe(200)));
      }
      const m = await metrics(c4);
      expect(sampleOf(m, 'httpagent_fleet_jobs_finished_total', { state: 'cancelled', queue: 'any' })).toBe(300);
      expect(await scrapeCalls()).toBe(before);
    } finally {
      await c4.close();
    }
  });

  it('a host inventing schedule names gets at most 100 of them filed, counted and exported', async () => {
    const c5 = await startController(redis.url, { agentSubmitPerMin: 1000 });
    try {
      await register('fm-x1', {}, 60_000, c5);
      const token = await credentialFor(c5.url, 'fm-x1');
      const at = new Date('2026-01-01T00:00:00.000Z');
      for (let i = 0; i < 105; i += 35) {
        await Promise.all(
          Array.from({ length: 35 }, async (_, k) => {
            const body = { task: 'noop', idempotencyKey: scheduleKey('fm-x1', `made-up-${i + k}`, at) };
            expect((await call(c5.url, 'POST', '/v1/agent/jobs', { body, token })).status).toBe(201);
          }),
        );
      }
      for (let jobs = await claim('fm-x1', 50, c5); jobs.length > 0; jobs = await claim('fm-x1', 50, c5)) {
        await Promise.all(jobs.map((j) => complete(j, 'failed', 'exit 1', c5)));
      }
      const r = await call(c5.url, 'GET', '/v1/agent/monitor/schedule-runs?agentId=fm-x1', { token });
      expect(r.body.runs).toHaveLength(100);
      const m = await metrics(c5);
      const series = [...m.keys()].filter((k) => k.startsWith('httpagent_fleet_schedule_runs_total{') && k.includes('agent="fm-x1"'));
      expect(series).toHaveLength(100);
      expect(sampleOf(m, 'httpagent_fleet_jobs_finished_total', { state: 'failed', queue: 'agent:fm-x1' })).toBe(105);
    } finally {
      await c5.close();
    }
  });
});
