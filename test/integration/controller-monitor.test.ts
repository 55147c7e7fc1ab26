// Monitor storage through the controller: latest sample and bounded history, heartbeat with TTL shown
// in GET /v1/agents, and the alert state round trip.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { waitUntil } from '../helpers/wait.js';
import { agentBody, call, startController, type Running } from './controller-harness.js';

let redis: PrivateRedis;
let c: Running;

beforeAll(async () => {
  redis = await startRedis();
  c = await startController(redis.url, { offlineAfterMs: 1000 });
  await call(c.url, 'POST', '/v1/agent/register', { body: agentBody('mon-a', { os: 'linux' }) });
});
afterAll(async () => {
  await c?.close();
  await redis?.stop();
});

describe('monitor storage', () => {
  it('keeps the newest sample as the latest and the rest as history since a time', async () => {
    const now = Date.now();
    const samples = [0, 1, 2].map((i) => ({ ts: now - (3 - i) * 1000, cpu: { busy: i / 10 }, load1: i }));
    const r = await call(c.url, 'POST', '/v1/agent/monitor/metrics', { body: { agentId: 'mon-a', intervalSec: 1, samples } });
    expect(r.status).toBe(200);
    expect(r.body.stored).toBe(3);
    // An older sample arriving late (a buffered one) does not replace the latest.
    await call(c.url, 'POST', '/v1/agent/monitor/metrics', { body: { agentId: 'mon-a', intervalSec: 1, samples: [{ ts: now - 10_000, load1: 9 }] } });

    const agents = (await call(c.url, 'GET', '/v1/agents')).body;
    expect(agents.find((a: { id: string }) => a.id === 'mon-a').metrics).toEqual(samples[2]);
    const hist = (await call(c.url, 'GET', `/v1/agents/mon-a/metrics?since=${now - 2500}`)).body.samples;
    expect(hist).toEqual([samples[1], samples[2]]);
    expect((await call(c.url, 'GET', '/v1/agents/nobody/metrics')).body.samples).toEqual([]);
  });

  it('bounds the history by count: 24 h of samples at the given interval', async () => {
    const now = Date.now();
    const samples = Array.from({ length: 60 }, (_, i) => ({ ts: now - (60 - i) * 1000 }));
    // At a 3600 s interval a day holds 24 samples (+10 slack): older ones are dropped.
    const r = await call(c.url, 'POST', '/v1/agent/monitor/metrics', { body: { agentId: 'mon-b', intervalSec: 3600, samples } });
    expect(r.body.stored).toBe(34);
    const hist = (await call(c.url, 'GET', '/v1/agents/mon-b/metrics')).body.samples;
    expect(hist[hist.length - 1]).toEqual(samples[59]);
  });

  it('shows the monitor online while its heartbeat lives, lapsed after, unknown when never seen', async () => {
    const before = (await call(c.url, 'GET', '/v1/agents')).body.find((a: { id: string }) => a.id === 'mon-a');
    expect(before.monitor).toBe('unknown');
    const hb = await call(c.url, 'POST', '/v1/agent/monitor/heartbeat', { body: { agentId: 'mon-a', ttlSec: 1, checks: { disk: true, redis: false } } });
    expect(hb.status).toBe(200);
    const on = (await call(c.url, 'GET', '/v1/agents')).body.find((a: { id: string }) => a.id === 'mon-a');
    expect(on).toMatchObject({ monitor: 'online', monitorChecks: { disk: true, redis: false } });
    expect(on.monitorSeenAt).not.toBeNull();
    // Once the heartbeat's TTL (1 s) is over it shows lapsed, and the agent itself, which sent nothing for
    // longer than offlineAfterMs, offline.
    const off = await waitUntil('the heartbeat to lapse', async () => {
      const a = (await call(c.url, 'GET', '/v1/agents')).body.find((x: { id: string }) => x.id === 'mon-a');
      return a.monitor === 'lapsed' && a.state === 'offline' ? a : undefined;
    });
    expect(off).toMatchObject({ monitor: 'lapsed', state: 'offline' });
  });

  it('stores and returns the alert state; null before any', async () => {
    expect((await call(c.url, 'GET', '/v1/agent/monitor/alert-state?agentId=mon-c')).body).toEqual({ state: null });
    const state = { disk: { firing: true, since: 123, notified: [1, 2] } };
    expect((await call(c.url, 'PUT', '/v1/agent/monitor/alert-state', { body: { agentId: 'mon-c', state } })).status).toBe(200);
    expect((await call(c.url, 'GET', '/v1/agent/monitor/alert-state?agentId=mon-c')).body).toEqual({ state });
  });

  it('refuses an oversize sample and a bad interval', async () => {
    const big = await call(c.url, 'POST', '/v1/agent/monitor/metrics', { body: { agentId: 'mon-a', intervalSec: 1, samples: [{ ts: 1, blob: 'x'.repeat(70 * 1024) }] } });
    expect(big.status).toBe(400);
    const bad = await call(c.url, 'POST', '/v1/agent/monitor/metrics', { body: { agentId: 'mon-a', intervalSec: 0, samples: [{ ts: 1 }] } });
    expect(bad.body.error.code).toBe('BAD_REQUEST');
  });
});
