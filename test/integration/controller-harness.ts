// Test harness for controller tests: a real controller on port 0 over a private Redis, and a tiny
// HTTP client (undici) that speaks for the platform and for an honest fleet of agents.
//
// The fleet: on the agent API, `call` presents the credential of the agent the request is about, enrolling
// that agent id on first use: the agentId in the body (or its claim) or query, else, for a job's calls,
// the agent that claimed the job through `call`. Tests of what a hostile host can do pass `token` themselves.
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { buildController, type Controller, type ControllerDeps } from '../../controller/src/index.js';
import { createRedisClients, type RedisClients } from '../../controller/src/redis-clients.js';
import { controllerConfigSchema, type ControllerConfig } from '../../src/shared/config/index.js';
import { silentLogger } from '../../src/shared/log.js';
import { enrollAgent, testSigningKeyFile, TEST_ENROLL_TOKEN } from '../helpers/identity.js';

/** The shared agent token of old: the controller takes it for nothing now (tests of that refusal use it). */
export const AGENT_TOKEN = 'agent-token-0123456789abcdef';
export const PLATFORM_TOKEN = 'platform-token-0123456789abcdef';
export const ENROLL_TOKEN = TEST_ENROLL_TOKEN;

export interface Running {
  url: string;
  config: ControllerConfig;
  controller: Controller;
  clients: RedisClients;
  close(): Promise<void>;
}

/** Controllers started here that share one inbox (one Redis key prefix) share one fleet of credentials. */
const fleetOf = new Map<string, string>();

export async function startController(
  redisUrl: string,
  overrides: Partial<Record<keyof ControllerConfig, unknown>> = {},
  deps: Pick<ControllerDeps, 'credentialCheck' | 'benchmarkWithoutAgentChecks'> & Partial<Pick<ControllerDeps, 'logger'>> = {},
): Promise<Running> {
  const config = controllerConfigSchema.parse({
    redisUrl,
    platformToken: PLATFORM_TOKEN,
    enrollToken: [ENROLL_TOKEN],
    signingKeyFile: testSigningKeyFile(),
    listen: '127.0.0.1:0',
    keyPrefix: 't' + randomBytes(4).toString('hex'),
    ...overrides,
  });
  const clients = createRedisClients(config);
  clients.command.on('error', () => {});
  clients.subscriber.on('error', () => {});
  const controller = await buildController(config, { redis: clients.command, subscriber: clients.subscriber, logger: silentLogger(), ...deps });
  const url = await controller.app.listen({ host: '127.0.0.1', port: 0 });
  fleetOf.set(url, `${redisUrl}/${config.keyPrefix}`);
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

/** fleet/agentId → credential, and fleet/jobId → the agent that claimed the job. */
const credentials = new Map<string, Promise<string>>();
const claimedBy = new Map<string, string>();
/** The agent a request without an agent id (a malformed one) speaks for. */
export const DEFAULT_AGENT = 'harness-agent';

/** The credential of `agentId` in the fleet `base` belongs to, enrolled on first use. */
export function credentialFor(base: string, agentId: string): Promise<string> {
  const key = `${fleetOf.get(base) ?? base}/${agentId}`;
  let cred = credentials.get(key);
  if (!cred) {
    cred = enrollAgent(base, ENROLL_TOKEN, agentId);
    credentials.set(key, cred);
    cred.catch(() => credentials.delete(key));
  }
  return cred;
}

/** Which agent an agent-API request is about, as an honest agent would present itself. */
function agentOf(base: string, path: string, body: unknown): string {
  const b = (typeof body === 'object' && body !== null ? body : {}) as { agentId?: unknown; claim?: { agentId?: unknown } };
  if (typeof b.agentId === 'string') return b.agentId;
  if (typeof b.claim?.agentId === 'string') return b.claim.agentId;
  const query = new URLSearchParams(path.split('?')[1] ?? '').get('agentId');
  if (query) return query;
  const job = /^\/v1\/agent\/jobs\/([^/?]+)\//.exec(path)?.[1];
  const results = (body as { results?: Array<{ id?: unknown }> } | undefined)?.results;
  const jobId = job ? decodeURIComponent(job) : typeof results?.[0]?.id === 'string' ? results[0].id : undefined;
  return (jobId && claimedBy.get(`${fleetOf.get(base) ?? base}/${jobId}`)) || DEFAULT_AGENT;
}

export async function call<T = any>(base: string, method: string, path: string, opts: CallOptions = {}): Promise<Reply<T>> {
  const isAgentApi = path.startsWith('/v1/agent/') && !path.startsWith('/v1/agent/enroll');
  const agentId = isAgentApi ? agentOf(base, path, opts.body) : undefined;
  const token = opts.token === undefined ? (agentId !== undefined ? await credentialFor(base, agentId) : PLATFORM_TOKEN) : opts.token;
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
  // Remember who holds each job handed out, so its later calls go with that agent's credential.
  const handedOut = (parsed as { jobs?: Array<{ id?: unknown }> } | undefined)?.jobs;
  if (agentId !== undefined && res.statusCode < 300 && Array.isArray(handedOut)) {
    for (const j of handedOut) if (typeof j.id === 'string') claimedBy.set(`${fleetOf.get(base) ?? base}/${j.id}`, agentId);
  }
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
