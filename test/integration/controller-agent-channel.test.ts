// The agent channel (GET /v1/agent/channel, a WebSocket) against a real controller on a private Redis,
// spoken by a raw undici WebSocket the way a hostile host could: the upgrade takes the agent's own
// credential only; each message is answered as its HTTP route would be (a waiting claim gets a job pushed
// the moment it is queued, completes fenced by epoch, another agent's id refused, a revoked credential
// refused at the next message); a claim whose channel closed pops nothing; bad messages are coded 4xx.
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { WebSocket } from 'undici';
import { WebSocket as WsClient } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHANNEL_MAX_IN_FLIGHT } from '../../src/shared/protocol/agent-api.js';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { waitUntil } from '../helpers/wait.js';
import { agentBody, call, claimId, credentialFor, startController, type Running } from './controller-harness.js';

let redis: PrivateRedis;
let c: Running;
let off: Running;

beforeAll(async () => {
  redis = await startRedis();
  c = await startController(redis.url);
  off = await startController(redis.url, { agentChannel: false });
});
afterAll(async () => {
  await off?.close();
  await c?.close();
  await redis?.stop();
});

interface Reply {
  rid: number;
  status: number;
  body: any;
  retryAfter?: number;
}

/** A raw channel: `send` a request, `reply(rid)` its answer; `closed` resolves with the close code. */
async function channel(base: string, token: string | undefined) {
  const ws = new WebSocket(`${base.replace('http:', 'ws:')}/v1/agent/channel`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  const replies = new Map<number, Reply>();
  const waiting = new Map<number, (r: Reply) => void>();
  ws.addEventListener('message', (ev) => {
    const r = JSON.parse(String(ev.data)) as Reply;
    const w = waiting.get(r.rid);
    if (w) w(r);
    else replies.set(r.rid, r);
  });
  const closed = new Promise<number>((resolve) => ws.addEventListener('close', (ev) => resolve(ev.code)));
  const opened = await Promise.race([once(ws, 'open').then(() => true), closed.then(() => false)]);
  let rid = 0;
  return {
    ws,
    opened,
    closed,
    send(path: string, body: unknown): number {
      ws.send(JSON.stringify({ rid: ++rid, path, body }));
      return rid;
    },
    reply(id: number): Promise<Reply> {
      const have = replies.get(id);
      if (have) return Promise.resolve(have);
      return new Promise((resolve) => waiting.set(id, resolve));
    },
    async call(path: string, body: unknown): Promise<Reply> {
      return this.reply(this.send(path, body));
    },
  };
}

async function registered(agentId: string): Promise<string> {
  const token = await credentialFor(c.url, agentId);
  expect((await call(c.url, 'POST', '/v1/agent/register', { token, body: agentBody(agentId) })).status).toBe(200);
  return token;
}

const submit = async (agent: string) => (await call(c.url, 'POST', '/v1/jobs', { body: { task: 'deploy', agent } })).body.id as string;
const done = (epoch: number, claim?: unknown) => ({ epoch, outcome: 'succeeded', steps: [{ state: 'succeeded', exitCode: 0, startedAt: null, finishedAt: null }], logBytes: 0, ...(claim ? { claim } : {}) });

describe('agent channel', () => {
  it('opens only for a live agent credential', async () => {
    expect((await channel(c.url, undefined)).opened).toBe(false);
    expect((await channel(c.url, 'ha1:nobody:not-a-secret-0123456789abcdef0123')).opened).toBe(false);
    const token = await registered('ch-open');
    const ok = await channel(c.url, token);
    expect(ok.opened).toBe(true);
    await waitUntil('the channel counted', () => c.controller.openChannels >= 1);
    ok.ws.close(1000);
    expect(await ok.closed).toBe(1000);
  });

  it('pushes a job to a waiting claim when it is queued, then completes it, fenced by epoch', async () => {
    const token = await registered('ch-push');
    const ch = await channel(c.url, token);
    const waiting = c.controller.waitingClaims;
    const rid = ch.send('/v1/agent/claim', { agentId: 'ch-push', max: 1, waitMs: 20_000, claimId: claimId() });
    await waitUntil('the claim waiting', () => c.controller.waitingClaims > waiting);
    const id = await submit('ch-push');
    const claimed = await ch.reply(rid);
    expect(claimed.status).toBe(200);
    expect(claimed.body.jobs).toMatchObject([{ id, epoch: 1 }]);

    const stale = await ch.call(`/v1/agent/jobs/${id}/complete`, done(2));
    expect([stale.status, stale.body.error.code]).toEqual([409, 'STALE_EPOCH']);
    const next = await submit('ch-push');
    const accepted = await ch.call(`/v1/agent/jobs/${id}/complete`, done(1, { agentId: 'ch-push', max: 1, claimId: claimId() }));
    expect(accepted.status).toBe(200);
    expect(accepted.body).toMatchObject({ accepted: true, jobs: [{ id: next }] });
    const again = await ch.call(`/v1/agent/jobs/${id}/complete`, done(1));
    expect(again.body).toEqual({ accepted: true, duplicate: true });
    const batch = await ch.call('/v1/agent/complete', { results: [{ id: next, ...done(1) }] });
    expect(batch.body).toEqual({ results: [{ id: next, status: 'accepted' }] });
    expect((await call(c.url, 'GET', `/v1/jobs/${id}`)).body.state).toBe('succeeded');
    ch.ws.close();
  });

  it("refuses another agent's id, an unknown path, bad requests and too many in flight, each with its code", async () => {
    const token = await registered('ch-bad');
    await registered('ch-other');
    const ch = await channel(c.url, token);
    const other = await ch.call('/v1/agent/claim', { agentId: 'ch-other', max: 1, waitMs: 0, claimId: claimId() });
    expect([other.status, other.body.error.code]).toEqual([403, 'AGENT_MISMATCH']);
    const mixed = await ch.call('/v1/agent/jobs/j1/complete', done(1, { agentId: 'ch-other', max: 1, claimId: claimId() }));
    expect([mixed.status, mixed.body.error.code]).toEqual([403, 'AGENT_MISMATCH']);
    const heartbeat = await ch.call('/v1/agent/heartbeat', { agentId: 'ch-bad', state: 'online', running: 0, leases: [] });
    expect([heartbeat.status, heartbeat.body.error.code]).toEqual([404, 'NOT_FOUND']);
    // A job id that is not valid percent-encoding is a bad request, not a server error.
    const encoded = await ch.call('/v1/agent/jobs/%ZZ/complete', done(1));
    expect([encoded.status, encoded.body.error.code]).toEqual([400, 'BAD_REQUEST']);
    const invalid = await ch.call('/v1/agent/claim', { agentId: 'ch-bad', max: 0, claimId: 'x' });
    expect([invalid.status, invalid.body.error.code]).toEqual([400, 'BAD_REQUEST']);

    // The cap: as many long-polls as it allows wait, the next is refused 429 with a Retry-After.
    const before = c.controller.waitingClaims;
    for (let i = 0; i < CHANNEL_MAX_IN_FLIGHT; i++) ch.send('/v1/agent/claim', { agentId: 'ch-bad', max: 1, waitMs: 20_000, claimId: claimId() });
    await waitUntil('the claims waiting', () => c.controller.waitingClaims === before + CHANNEL_MAX_IN_FLIGHT);
    const over = await ch.call('/v1/agent/claim', { agentId: 'ch-bad', max: 1, waitMs: 0, claimId: claimId() });
    expect([over.status, over.body.error.code, over.retryAfter]).toEqual([429, 'OVERLOADED', 1]);

    // Not a request at all: answered 400 with rid -1, and the channel closed (policy violation).
    ch.ws.send('{"hello": true}');
    expect(await ch.reply(-1)).toMatchObject({ status: 400, body: { error: { code: 'BAD_REQUEST' } } });
    expect(await ch.closed).toBe(1008);
    await waitUntil('the closed channel’s claims released', () => c.controller.waitingClaims === before);
  });

  it('ends a waiting claim with nothing popped when its channel closes', async () => {
    const token = await registered('ch-gone');
    const ch = await channel(c.url, token);
    const before = c.controller.waitingClaims;
    ch.send('/v1/agent/claim', { agentId: 'ch-gone', max: 1, waitMs: 20_000, claimId: claimId() });
    await waitUntil('the claim waiting', () => c.controller.waitingClaims > before);
    ch.ws.close();
    await ch.closed;
    await waitUntil('the claim released', () => c.controller.waitingClaims === before);
    const id = await submit('ch-gone');
    // Still queued: an HTTP claim by the same agent gets it.
    const r = await call(c.url, 'POST', '/v1/agent/claim', { token, body: { agentId: 'ch-gone', max: 1, waitMs: 0, claimId: claimId() } });
    expect(r.body.jobs.map((j: { id: string }) => j.id)).toEqual([id]);
  });

  it('refuses a revoked credential at its next message, on a channel opened before the revocation', async () => {
    const token = await registered('ch-revoked');
    const ch = await channel(c.url, token);
    expect((await ch.call('/v1/agent/claim', { agentId: 'ch-revoked', max: 1, waitMs: 0, claimId: claimId() })).status).toBe(200);
    expect((await call(c.url, 'DELETE', '/v1/agents/ch-revoked')).status).toBe(200);
    const r = await ch.call('/v1/agent/claim', { agentId: 'ch-revoked', max: 1, waitMs: 0, claimId: claimId() });
    expect([r.status, r.body.error.code]).toEqual([401, 'CREDENTIAL_REVOKED']);
    ch.ws.close();
  });

  it('lets go of the socket of a refused upgrade: a controller closes at once after one', async () => {
    const own = await startController(redis.url);
    try {
      expect((await channel(own.url, undefined)).opened).toBe(false);
    } finally {
      // It waited for that socket forever before (the refused peer's socket was never closed).
      const closed = await Promise.race([own.close().then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 10_000).unref())]);
      expect(closed).toBe(true);
    }
  });

  it('holds nothing of its upgrade request while the channel lives (its headers cost 2 KB per agent)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const token = await registered('ch-lean');
    let upgrade: WeakRef<IncomingMessage> | undefined;
    const seen = (req: IncomingMessage) => (upgrade = new WeakRef(req));
    c.controller.app.server.prependOnceListener('upgrade', seen);
    const ch = await channel(c.url, token);
    const before = c.controller.waitingClaims;
    ch.send('/v1/agent/claim', { agentId: 'ch-lean', max: 1, waitMs: 20_000, claimId: claimId() });
    await waitUntil('the claim waiting', () => c.controller.waitingClaims > before);
    expect(upgrade).toBeDefined();
    // A WeakRef's target lives to the end of the turn that made it: collect in later turns.
    await waitUntil('the upgrade request collected', async () => {
      await new Promise((r) => setImmediate(r));
      gc();
      return upgrade!.deref() === undefined;
    });
    ch.ws.close();
    await waitUntil('the claim released', () => c.controller.waitingClaims === before);
  });

  it('closes a channel whose peer stopped answering pings, and keeps one that answers', async () => {
    const own = await startController(redis.url, { agentChannelPingMs: 1000 });
    const open = (agentId: string, autoPong: boolean) =>
      credentialFor(own.url, agentId).then(async (token) => {
        const ws = new WsClient(`${own.url.replace('http:', 'ws:')}/v1/agent/channel`, { headers: { authorization: `Bearer ${token}` }, autoPong });
        const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
        let pings = 0;
        ws.on('ping', () => pings++);
        await once(ws, 'open');
        return { ws, closed, pings: () => pings };
      });
    try {
      const silent = await open('ch-silent', false);
      const live = await open('ch-live', true);
      // Terminated (no close frame: 1006 at the peer) after one ping went unanswered.
      expect(await silent.closed).toBe(1006);
      expect(silent.pings()).toBeGreaterThanOrEqual(1);
      // The answering peer has been pinged past that point and is still open. (A second between pings:
      // the test's own event loop answers them, and a busy machine must not make it miss one.)
      await waitUntil('two more pings to the live channel', () => live.pings() >= silent.pings() + 2);
      expect(live.ws.readyState).toBe(WsClient.OPEN);
      expect(own.controller.openChannels).toBe(1);
      live.ws.close();
    } finally {
      await own.close();
    }
  });

  it('answers a plain GET (no upgrade) 426 UPGRADE_REQUIRED', async () => {
    const token = await registered('ch-plain');
    const r = await call(c.url, 'GET', '/v1/agent/channel', { token });
    expect([r.status, r.body.error.code]).toEqual([426, 'UPGRADE_REQUIRED']);
  });

  it('is not served by a controller with agentChannel off (agents use HTTP)', async () => {
    const token = await credentialFor(off.url, 'ch-off');
    expect((await channel(off.url, token)).opened).toBe(false);
  });
});
