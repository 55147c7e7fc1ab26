// Attack: slow and idle clients against a real agent and a real controller process. Seen before the
// connection guard: 300 unauthenticated sockets trickling a body a byte at a time after their 401 stayed
// open for minutes on both servers (no request timeout, no connection cap). Here hundreds of sockets
// trickle headers, trickle an authenticated body, or send nothing; each must be closed by the server
// within the configured timeouts while a legitimate client is still served, and a refused body must not
// be read to its end.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rawConnect, requestBytes, type RawConnection } from '../helpers/raw-http.js';
import { STACK_PLATFORM_TOKEN, startHttpStack, type HttpStack } from '../helpers/http-stack.js';
import { agentBody } from './controller-harness.js';

const HEADERS_TIMEOUT_MS = 1500;
const REQUEST_TIMEOUT_MS = 3000;
const IDLE_TIMEOUT_MS = 2000;
const TRICKLERS = 300;
/** The whole request must have arrived by REQUEST_TIMEOUT_MS; node checks deadlines every second at most. */
const CLOSED_WITHIN_MS = REQUEST_TIMEOUT_MS + 15_000;

let stack: HttpStack;
/** A port token for the stack's agent: what the platform presents on the agent's port. */
let portToken = '';
const open = new Set<RawConnection>();

beforeAll(async () => {
  stack = await startHttpStack({
    env: {
      HTTPAGENT_HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
      HTTPAGENT_HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      HTTPAGENT_HTTP_IDLE_TIMEOUT_MS: String(IDLE_TIMEOUT_MS),
      // Above the tricklers: this file is about timeouts; the cap has its own test (connection-guard).
      HTTPAGENT_HTTP_MAX_CONNECTIONS: String(TRICKLERS + 100),
      HTTPAGENT_BODY_LIMIT_BYTES: String(64 * 1024),
    },
    // Claims may wait longer than the idle timeout: the long-poll has its own bound.
    controllerEnv: { HTTPAGENT_LONG_POLL_MS: String(IDLE_TIMEOUT_MS * 2) },
  });
}, 90_000);

// Port tokens live 300 s at most: a fresh one for each test.
beforeEach(async () => {
  portToken = await stack.portToken();
});

afterAll(async () => {
  for (const c of open) c.destroy();
  await stack?.stop();
});

async function connectTracked(base: string, first?: string | Buffer): Promise<RawConnection> {
  const c = await rawConnect(base, first);
  open.add(c);
  void c.closed.then(() => open.delete(c));
  return c;
}

/** Writes one byte to every connection still open, every `everyMs`, until stopped. */
function trickle(conns: RawConnection[], byte: string, everyMs: number): { stop(): void } {
  const t = setInterval(() => {
    for (const c of conns) if (!c.socket.destroyed) c.socket.write(byte);
  }, everyMs);
  return { stop: () => clearInterval(t) };
}

/** Resolves when every connection has closed; rejects after `ms` naming how many are still open. */
async function allClosed(conns: RawConnection[], ms: number): Promise<Array<{ byPeer: boolean }>> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${conns.filter((c) => !c.socket.destroyed).length} of ${conns.length} sockets still open after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([Promise.all(conns.map((c) => c.closed)), late]);
  } finally {
    clearTimeout(timer);
  }
}

function errorCodeOf(c: RawConnection): string | undefined {
  const text = c.received().toString('utf8');
  const body = text.slice(text.indexOf('\r\n\r\n') + 4);
  try {
    return (JSON.parse(body) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

type Server = 'agent' | 'controller';
const baseOf = (s: Server) => (s === 'agent' ? stack.agent.url : stack.controller.url);

/** A request that needs the token and a body on each server. */
function authedPost(s: Server, contentLength: number, body: string): Buffer {
  const [path, token] = s === 'agent' ? ['/v1/run', portToken] : ['/v1/jobs', STACK_PLATFORM_TOKEN];
  return requestBytes('POST', path, [['Host', 'x'], ['Authorization', `Bearer ${token}`], ['Content-Type', 'application/json'], ['Content-Length', String(contentLength)]], body);
}

/** What a legitimate client does meanwhile; answers the status. */
async function legitimateCall(s: Server): Promise<number> {
  if (s === 'agent') {
    const res = await fetch(`${stack.agent.url}/v1/run`, {
      method: 'POST',
      headers: { authorization: `Bearer ${portToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ task: 'true' }),
    });
    await res.arrayBuffer();
    return res.status;
  }
  const res = await fetch(`${stack.controller.url}/v1/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${STACK_PLATFORM_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ task: 'noop', agent: 'nobody' }),
  });
  await res.arrayBuffer();
  return res.status;
}

describe.each<Server>(['agent', 'controller'])('slow and idle clients against a real %s process', (server) => {
  it(`closes ${TRICKLERS} trickling and idle sockets within the timeouts while a legitimate client is served`, async () => {
    const base = baseOf(server);
    const headerTricklers: RawConnection[] = [];
    const bodyTricklers: RawConnection[] = [];
    const silent: RawConnection[] = [];
    for (let i = 0; i < TRICKLERS; i++) {
      if (i % 3 === 0) headerTricklers.push(await connectTracked(base, 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: '));
      // Announces less than the body limit, so it is waited for rather than refused with 413 at once.
      else if (i % 3 === 1) bodyTricklers.push(await connectTracked(base, authedPost(server, 60_000, '{"task":"')));
      else silent.push(await connectTracked(base));
    }
    const drip = trickle([...headerTricklers, ...bodyTricklers], 'a', 250);
    try {
      // All of them are connected and dripping: the server still serves a real client, more than once.
      for (let i = 0; i < 3; i++) {
        expect((await fetch(`${base}/healthz`)).status).toBe(200);
        expect(await legitimateCall(server)).toBeLessThan(300);
      }
      const all = [...headerTricklers, ...bodyTricklers, ...silent];
      const closes = await allClosed(all, CLOSED_WITHIN_MS);
      expect(closes.every((c) => c.byPeer)).toBe(true);
      // Those that kept sending were told why before the close: 408 REQUEST_TIMEOUT in our error shape.
      // A silent one may instead meet the idle timeout first, which closes without a word.
      expect(new Set([...headerTricklers, ...bodyTricklers].map(errorCodeOf))).toEqual(new Set(['REQUEST_TIMEOUT']));
      expect(silent.every((c) => [undefined, 'REQUEST_TIMEOUT'].includes(errorCodeOf(c)))).toBe(true);
    } finally {
      drip.stop();
    }
    expect(stack.agent.alive() && stack.controller.alive()).toBe(true);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  // The reproduction of issue 11: before the guard these stayed open for minutes on both servers.
  it(`closes ${TRICKLERS} unauthenticated sockets that trickle their body 1 byte per 10 s after their 401`, async () => {
    const base = baseOf(server);
    const path = server === 'agent' ? '/v1/run' : '/v1/jobs';
    const conns: RawConnection[] = [];
    for (let i = 0; i < TRICKLERS; i++) {
      conns.push(await connectTracked(base, requestBytes('POST', path, [['Host', 'x'], ['Content-Type', 'application/json'], ['Content-Length', '100000']], '{"task":"')));
    }
    const replies = await Promise.all(conns.map((c) => c.reply()));
    expect(new Set(replies.map((r) => r?.status))).toEqual(new Set([401]));
    const drip = trickle(conns, 'a', 10_000);
    try {
      // Closed by the server once the 401 is out, not after the body's 100 kB (three hours at this pace),
      // nor after the request timeout. The bound only keeps a broken server from hanging the test.
      const closes = await allClosed(conns, CLOSED_WITHIN_MS);
      expect(closes.every((c) => c.byPeer)).toBe(true);
    } finally {
      drip.stop();
    }
    expect(stack.agent.alive() && stack.controller.alive()).toBe(true);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it('closes the connection after a 401 without reading the rest of the body', async () => {
    const base = baseOf(server);
    const path = server === 'agent' ? '/v1/run' : '/v1/jobs';
    // 10 MB announced, 1 KiB sent, no token. The server has to answer and close without the other 9.99 MB.
    const c = await connectTracked(base, requestBytes('POST', path, [['Host', 'x'], ['Content-Type', 'application/json'], ['Content-Length', '10000000']], `{"pad":"${'a'.repeat(1024)}`));
    const reply = await c.reply();
    expect(reply?.status).toBe(401);
    expect(reply?.headers.connection).toBe('close');
    expect((await allClosed([c], 10_000))[0]!.byPeer).toBe(true);
  });

  it('closes the connection after a 413 without reading the rest of the body', async () => {
    const base = baseOf(server);
    const c = await connectTracked(base, authedPost(server, 10_000_000, '{"task":"'));
    const reply = await c.reply();
    expect(reply?.status).toBe(413);
    expect(JSON.parse(reply!.body.toString()).error.code).toBe('BODY_TOO_LARGE');
    expect(reply?.headers.connection).toBe('close');
    expect((await allClosed([c], 10_000))[0]!.byPeer).toBe(true);
  });

  it('keeps a connection alive after a 401 to a request that arrived whole', async () => {
    const base = baseOf(server);
    const c = await connectTracked(base, requestBytes('GET', server === 'agent' ? '/v1/nothing' : '/v1/jobs', [['Host', 'x']]));
    const reply = await c.reply();
    expect(reply?.status).toBe(401);
    expect(reply?.headers.connection).not.toBe('close');
    c.destroy();
  });
});

describe('replies that are silent by design, against the idle timeout', () => {
  const post = (path: string, token: string, body: unknown) =>
    fetch(`${stack.controller.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  /** A claim for an agent nothing is queued for: it waits its whole waitMs, twice the idle timeout, silent. */
  async function slowClaim(agentId: string): Promise<Response> {
    const credential = await stack.enroll(agentId);
    expect((await post('/v1/agent/register', credential, agentBody(agentId))).status).toBe(200);
    return post('/v1/agent/claim', credential, { agentId, max: 1, waitMs: IDLE_TIMEOUT_MS * 2, claimId: `${agentId}-claim-1` });
  }

  it('answers a claim that waits past the idle timeout instead of cutting it off', async () => {
    const res = await slowClaim('slow-claimer');
    expect(res.status).toBe(200);
    expect(((await res.json()) as { jobs: unknown[] }).jobs).toEqual([]);
  });

  it('keeps a log follow open while the job is quiet for longer than the idle timeout', async () => {
    const { id } = (await (await post('/v1/jobs', STACK_PLATFORM_TOKEN, { task: 'noop', agent: 'nobody' })).json()) as { id: string };
    // Not awaited yet: an empty log sends not even the headers until the job ends.
    const follow = fetch(`${stack.controller.url}/v1/jobs/${id}/log?follow=1`, { headers: { authorization: `Bearer ${STACK_PLATFORM_TOKEN}` } }).then(async (res) => ({
      status: res.status,
      text: await res.text(),
    }));
    // The follow has sent nothing for as long as this claim waited (twice the idle timeout).
    expect((await slowClaim('follow-timer')).status).toBe(200);
    expect((await post(`/v1/jobs/${id}/cancel`, STACK_PLATFORM_TOKEN, {})).status).toBe(200);
    // Cut off, the call would reject with a socket error instead of ending with the job.
    expect(await follow).toEqual({ status: 200, text: '' });
  });
});
