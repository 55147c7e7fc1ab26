// Both clients of the controller (the agent's and console's undici transport, the monitor's node:http
// caller) against a real HTTP server that answers as a struggling controller does: the errors carry the
// body's code and the Retry-After (seconds or HTTP date), a transient refusal is tried again and a final
// one is not, and a log page without its next offset is a bad reply rather than a guess.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createControllerHttp, type ControllerHttp } from '../../src/shared/client/controller-http.js';
import { platformJobsResource } from '../../src/shared/client/platform-jobs.js';
import { createMonitorClient, type MonitorClient } from '../../src/monitor/monitor-client.js';
import { z } from 'zod';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let server: Server;
let url: string;
let handler: Handler = (_req, res) => res.end();
let requests: string[] = [];
let http: ControllerHttp;
let monitor: MonitorClient;

const refuse = (status: number, code: string, headers: Record<string, string> = {}): Handler => (_req, res) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify({ error: { code, message: `${code} here` } }));
};

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => handler(req, res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  http = createControllerHttp({ baseUrl: url, token: 't', connections: 2 });
  const credential = { agentId: 'a1', bearer: `ha1:a1:${'s'.repeat(43)}` };
  monitor = createMonitorClient({ baseUrl: url, credential: { current: () => credential, invalidate: () => undefined }, timeoutMs: 5_000 });
});
afterAll(async () => {
  await http?.close();
  await monitor?.close();
  await new Promise((r) => server?.close(r));
});
beforeEach(() => {
  requests = [];
});

describe('the controller transport', () => {
  it('surfaces Retry-After in seconds on a 503', async () => {
    handler = refuse(503, 'REDIS_UNAVAILABLE', { 'retry-after': '2' });
    await expect(http.call('/v1/x', z.unknown())).rejects.toMatchObject({ name: 'ControllerError', code: 'REDIS_UNAVAILABLE', statusCode: 503, retryAfterMs: 2_000 });
  });

  it('surfaces Retry-After as an HTTP date on a 429', async () => {
    const at = new Date(Date.now() + 30_000);
    handler = refuse(429, 'OVERLOADED', { 'retry-after': at.toUTCString() });
    const err = await http.call('/v1/x', z.unknown()).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'OVERLOADED', statusCode: 429 });
    // The date has whole seconds: up to a second less than asked, never more.
    const ms = (err as { retryAfterMs: number }).retryAfterMs;
    expect(ms).toBeGreaterThan(0);
    expect(ms).toBeLessThanOrEqual(30_000);
  });

  it('has no Retry-After when the reply names none, and keeps a proxy page as HTTP_<status>', async () => {
    handler = (_req, res) => res.writeHead(502, { 'content-type': 'text/html' }).end('<h1>bad gateway</h1>');
    await expect(http.call('/v1/x', z.unknown())).rejects.toMatchObject({ code: 'HTTP_502', statusCode: 502, retryAfterMs: undefined });
  });

  it('refuses a log page that does not name the next offset', async () => {
    const platform = platformJobsResource(http);
    handler = (_req, res) => res.writeHead(200, { 'content-type': 'text/plain', 'x-log-next-offset': '5' }).end('hello');
    await expect(platform.log('j1', 0)).resolves.toMatchObject({ nextOffset: 5 });
    handler = (_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('hello');
    await expect(platform.log('j1', 0)).rejects.toMatchObject({ code: 'CONTROLLER_BAD_REPLY' });
  });
});

describe('the monitor client', () => {
  it('tries a 503 again after its Retry-After, and reports it if it persists', async () => {
    handler = refuse(503, 'REDIS_UNAVAILABLE', { 'retry-after': '1' });
    await expect(monitor.heartbeat(3, {})).rejects.toMatchObject({ code: 'REDIS_UNAVAILABLE', statusCode: 503, retryAfterMs: 1_000 });
    expect(requests).toEqual(['POST /v1/agent/monitor/heartbeat', 'POST /v1/agent/monitor/heartbeat']);
  });

  it('gets through when the second try is answered', async () => {
    let n = 0;
    handler = (req, res) => (++n === 1 ? refuse(503, 'REDIS_UNAVAILABLE', { 'retry-after': '0' })(req, res) : res.writeHead(200).end('{}'));
    await expect(monitor.pushMetrics(1, [{ ts: 1 }])).resolves.toBeUndefined();
    expect(requests).toHaveLength(2);
  });

  it('does not try a refusal again', async () => {
    handler = refuse(400, 'BAD_REQUEST');
    await expect(monitor.pushMetrics(1, [{ ts: 1 }])).rejects.toMatchObject({ code: 'BAD_REQUEST', statusCode: 400 });
    expect(requests).toHaveLength(1);
  });
});
