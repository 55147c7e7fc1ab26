// The agent channel's client against a real WebSocket server on loopback that plays the controller:
// the first call goes by HTTP and opens the channel, later ones go over it; a call the server lets run
// out fails as an unreachable controller and drops the channel (the next call goes by HTTP again); a
// reply that is not one closes it; refused upgrades are tried again at their pace and said once.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { createAgentChannel, type AgentChannel } from '../../src/agent/controller-client/channel.js';
import { silentLogger } from '../../src/shared/log.js';
import { waitUntil } from '../helpers/wait.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A server that hands each connection to `onConnection`. */
async function server(onConnection: (ws: WebSocket) => void): Promise<string> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  wss.on('connection', onConnection);
  await once(wss, 'listening');
  cleanups.push(() => new Promise<void>((r) => {
    for (const c of wss.clients) c.terminate();
    wss.close(() => r());
  }));
  return `http://127.0.0.1:${(wss.address() as AddressInfo).port}`;
}

function channel(url: string): AgentChannel {
  const ch = createAgentChannel({ controllerUrl: url, credential: () => 'ha1:a1:secret', logger: silentLogger(), refusedRetryMs: 60_000 });
  cleanups.push(() => ch.close());
  return ch;
}

describe('agent channel client', () => {
  it('sends the first call by HTTP (opening the channel), the next over it, with the reply by rid', async () => {
    const url = await server((ws) => ws.on('message', (m) => {
      const { rid, body } = JSON.parse(String(m));
      ws.send(JSON.stringify({ rid, status: 200, body: { echo: body } }));
    }));
    const ch = channel(url);
    expect(ch.request('/v1/agent/claim', { n: 1 }, 1000)).toBeUndefined();
    await waitUntil('the channel open', () => ch.open);
    expect(await ch.request('/v1/agent/claim', { n: 2 }, 1000)).toEqual({ rid: 0, status: 200, body: { echo: { n: 2 } } });
  });

  it('fails a call the server lets run out as CONTROLLER_UNREACHABLE and drops the channel', async () => {
    const url = await server(() => undefined); // never answers
    const ch = channel(url);
    ch.request('/v1/agent/claim', {}, 1000);
    await waitUntil('the channel open', () => ch.open);
    await expect(ch.request('/v1/agent/claim', {}, 200)).rejects.toMatchObject({ code: 'CONTROLLER_UNREACHABLE' });
    await waitUntil('the channel dropped', () => !ch.open);
    expect(ch.request('/v1/agent/claim', {}, 200)).toBeUndefined();
  });

  it('closes on a message that is not a reply, failing the calls on it', async () => {
    const url = await server((ws) => ws.on('message', () => ws.send('{"hello":1}')));
    const ch = channel(url);
    ch.request('/v1/agent/claim', {}, 1000);
    await waitUntil('the channel open', () => ch.open);
    await expect(ch.request('/v1/agent/claim', {}, 5000)).rejects.toMatchObject({ code: 'CONTROLLER_UNREACHABLE' });
    expect(ch.open).toBe(false);
  });

  it('after a refused upgrade, goes by HTTP and tries again only after refusedRetryMs, saying so once', async () => {
    let attempts = 0;
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, verifyClient: () => (attempts++, false) });
    await once(wss, 'listening');
    cleanups.push(() => new Promise<void>((r) => wss.close(() => r())));
    const said: string[] = [];
    const logger = { ...silentLogger(), info: (_o: unknown, msg?: string) => void said.push(String(msg ?? _o)) } as unknown as ReturnType<typeof silentLogger>;
    const ch = createAgentChannel({ controllerUrl: `http://127.0.0.1:${(wss.address() as AddressInfo).port}`, credential: () => 'ha1:a1:secret', logger, refusedRetryMs: 150 });
    cleanups.push(() => ch.close());
    for (let i = 0; i < 3; i++) expect(ch.request('/v1/agent/claim', {}, 1000)).toBeUndefined();
    await waitUntil('three refused upgrades', () => attempts >= 3);
    expect(ch.open).toBe(false);
    expect(said.filter((m) => /refused or unreachable/.test(m))).toHaveLength(1);
  });
});
