// Test harness for controller tests: a real controller on port 0 over a private Redis, and a tiny
// HTTP client (undici) that speaks both tokens.
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { buildController, type Controller } from '../../controller/src/index.js';
import { createRedisClients, type RedisClients } from '../../controller/src/redis-clients.js';
import { controllerConfigSchema, type ControllerConfig } from '../../src/shared/config/index.js';
import { silentLogger } from '../../src/shared/log.js';

export const AGENT_TOKEN = 'agent-token-0123456789abcdef';
export const PLATFORM_TOKEN = 'platform-token-0123456789abcdef';

export interface Running {
  url: string;
  config: ControllerConfig;
  controller: Controller;
  clients: RedisClients;
  close(): Promise<void>;
}

export async function startController(redisUrl: string, overrides: Partial<Record<keyof ControllerConfig, unknown>> = {}): Promise<Running> {
  const config = controllerConfigSchema.parse({
    redisUrl,
    agentToken: AGENT_TOKEN,
    platformToken: PLATFORM_TOKEN,
    listen: '127.0.0.1:0',
    keyPrefix: 't' + randomBytes(4).toString('hex'),
    ...overrides,
  });
  const clients = createRedisClients(config);
  clients.command.on('error', () => {});
  clients.subscriber.on('error', () => {});
  const controller = await buildController(config, { redis: clients.command, subscriber: clients.subscriber, logger: silentLogger() });
  const url = await controller.app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    config,
    controller,
    clients,
    close: async () => {
      await controller.close();
      await clients.quit();
    },
  };
}

export interface Reply<T = any> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export interface CallOptions {
  token?: string | null;
  body?: unknown;
  raw?: string | Buffer;
  contentType?: string;
  signal?: AbortSignal;
}

export async function call<T = any>(base: string, method: string, path: string, opts: CallOptions = {}): Promise<Reply<T>> {
  const token = opts.token === undefined ? (path.startsWith('/v1/agent/') ? AGENT_TOKEN : PLATFORM_TOKEN) : opts.token;
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body: string | Buffer | undefined;
  if (opts.raw !== undefined) {
    body = opts.raw;
    if (opts.contentType) headers['content-type'] = opts.contentType;
  } else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] = 'application/json';
  }
  const res = await request(base + path, { method: method as 'GET', headers, body, signal: opts.signal });
  const text = await res.body.text();
  let parsed: unknown = text;
  if (String(res.headers['content-type'] ?? '').includes('json')) parsed = JSON.parse(text);
  return { status: res.statusCode, body: parsed as T, headers: res.headers, text };
}

let seq = 0;
/** A registration body for an agent with these labels. */
export function agentBody(agentId: string, labels: Record<string, string> = {}, capacity = 4) {
  return {
    agentId,
    hostname: `${agentId}.test`,
    addresses: ['127.0.0.1'],
    port: 9889,
    version: '0.1.0',
    labels,
    capacity,
    leaseMs: 10_000,
  };
}

export const claimId = (): string => `claim-${process.pid}-${++seq}-${randomBytes(4).toString('hex')}`;
