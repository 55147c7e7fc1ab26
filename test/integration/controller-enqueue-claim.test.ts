// A job queued while a claim that can take it waits on the same controller is claimed in the enqueue's
// own script (enqueue-claim-8.lua): the waiting claim is answered without running claim-6.lua after a
// wake-up. Redis's MONITOR shows which scripts ran. What the claim part refuses leaves the job queued
// and the claim waiting, as before.
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scriptSource } from '../../controller/src/commands.js';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { waitUntil } from '../helpers/wait.js';
import { agentBody, call, claimId, startController, type Running } from './controller-harness.js';

let redis: PrivateRedis;
let c: Running;

beforeAll(async () => {
  redis = await startRedis();
  // No reaper sweeps in the middle of what MONITOR records.
  c = await startController(redis.url, { reapIntervalMs: 60_000 });
});
afterAll(async () => {
  await c?.close();
  await redis?.stop();
});

const sha = (name: 'claim' | 'enqueue' | 'enqueueClaim') => createHash('sha1').update(scriptSource(name)).digest('hex');

/** The scripts Redis runs (by name) while `fn` does. */
async function scriptsRunDuring<T>(fn: () => Promise<T>): Promise<{ result: T; ran: string[]; keysRead: string[] }> {
  const scripts = (['claim', 'enqueue', 'enqueueClaim'] as const).map((name) => ({ name, sha: sha(name), opening: scriptSource(name).split('\n')[1]!.trim() }));
  const monitor = await new Redis(redis.port, '127.0.0.1').monitor();
  const ran: string[] = [];
  // Keys the controller itself (not a script) named.
  const keysRead: string[] = [];
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source !== 'lua' && args[1] !== undefined && !/^eval/i.test(args[0]!)) keysRead.push(String(args[1]));
    // EVAL the first time (ioredis falls back to it on NOSCRIPT; MONITOR shows its text escaped), EVALSHA after.
    const cmd = args[0]?.toLowerCase();
    const arg = String(args[1]);
    if (cmd === 'evalsha') ran.push(scripts.find((x) => x.sha === arg)?.name ?? 'other');
    if (cmd === 'eval') ran.push(scripts.find((x) => arg.includes(x.opening))?.name ?? 'other');
  });
  try {
    const result = await fn();
    // MONITOR streams what already ran, a moment later: a marker sent after `fn` marks the end of it.
    const marker = `end-${claimId()}`;
    const seen = new Promise<void>((resolve) => monitor.on('monitor', (_time: string, args: string[]) => args[1] === marker && resolve()));
    const admin = redis.client();
    await admin.echo(marker);
    admin.disconnect();
    await seen;
    // Under the controller's hash tag: not a connection's own handshake (HELLO, CLIENT SETNAME) or the marker.
    return { result, ran, keysRead: keysRead.filter((k) => k.startsWith('{')) };
  } finally {
    monitor.disconnect();
  }
}

const longPoll = (agentId: string) => call(c.url, 'POST', '/v1/agent/claim', { body: { agentId, max: 1, waitMs: 30_000, claimId: claimId() } });

describe('enqueue and claim in one script', () => {
  it('hands a new job to a claim waiting here without a claim script after the wake-up', async () => {
    await call(c.url, 'POST', '/v1/agent/register', { body: agentBody('fused-a', { pool: 'fused' }) });
    const base = c.controller.waitingClaims;
    const poll = longPoll('fused-a');
    await waitUntil('the claim waiting', () => c.controller.waitingClaims === base + 1);
    const { result, ran, keysRead } = await scriptsRunDuring(async () => {
      const { id } = (await call(c.url, 'POST', '/v1/jobs', { body: { task: 'noop', labels: { pool: 'fused' } } })).body;
      return { id, answered: await poll };
    });
    expect(result.answered.status).toBe(200);
    expect(result.answered.body.jobs.map((j: { id: string }) => j.id)).toEqual([result.id]);
    expect(ran).toEqual(['enqueueClaim']);
    // Claimed at once, so the submit does not ask the registry why the job would wait.
    expect(keysRead).toEqual([]);
    expect((await call(c.url, 'GET', `/v1/jobs/${result.id}`)).body).toMatchObject({ state: 'running', agent: 'fused-a', attempt: 1 });
  });

  it('a submit whose idempotency key is known creates nothing and claims nothing; the claim waits on', async () => {
    await call(c.url, 'POST', '/v1/agent/register', { body: agentBody('fused-b', { pool: 'fused-b' }) });
    const body = { task: 'noop', labels: { pool: 'fused-b' }, idempotencyKey: `k-${claimId()}` };
    const first = (await call(c.url, 'POST', '/v1/jobs', { body })).body.id;
    expect((await longPoll('fused-b')).body.jobs.map((j: { id: string }) => j.id)).toEqual([first]);
    const base = c.controller.waitingClaims;
    const poll = longPoll('fused-b');
    await waitUntil('the claim waiting', () => c.controller.waitingClaims === base + 1);
    expect((await call(c.url, 'POST', '/v1/jobs', { body })).body).toMatchObject({ id: first, duplicate: true });
    expect(c.controller.waitingClaims).toBe(base + 1);
    const next = (await call(c.url, 'POST', '/v1/jobs', { body: { task: 'noop', labels: { pool: 'fused-b' } } })).body.id;
    expect((await poll).body.jobs.map((j: { id: string }) => j.id)).toEqual([next]);
  });

  it('a revoked agent\'s waiting claim is not claimed for: the job stays queued and its own claim is refused', async () => {
    await call(c.url, 'POST', '/v1/agent/register', { body: agentBody('fused-r', { pool: 'fused-r' }) });
    const base = c.controller.waitingClaims;
    const poll = longPoll('fused-r');
    await waitUntil('the claim waiting', () => c.controller.waitingClaims === base + 1);
    expect((await call(c.url, 'DELETE', '/v1/agents/fused-r')).status).toBe(200);
    const { id } = (await call(c.url, 'POST', '/v1/jobs', { body: { task: 'noop', labels: { pool: 'fused-r' } } })).body;
    const answered = await poll;
    expect(answered.status).toBe(401);
    expect((await call(c.url, 'GET', `/v1/jobs/${id}`)).body.state).toBe('queued');
  });
});
