// A lean agent-protocol client for benchmarks: enroll and register, long-poll claim, complete-and-claim-next
// (one result, or a batch) over raw undici, each agent with its own credential and, as the agent, its own
// agent channel (a WebSocket) for claims and completes unless told to use HTTP; and the platform's batched
// submit. It measures the controller and protocol path without spawning anything, the way BullMQ's no-op
// processor measures BullMQ without work.
import { randomUUID } from 'node:crypto';
import { Pool, WebSocket } from 'undici';
import { agentApiPaths, type ClaimedJob } from '../../src/shared/protocol/agent-api.js';
import { ENROLL_TOKEN, PLATFORM_TOKEN } from './system.js';

export interface ProtoClient {
  /** Enrolls `agentId` first (once per client), then registers it. */
  register(agentId: string, capacity: number, leaseMs?: number): Promise<void>;
  claim(agentId: string, max: number, waitMs: number): Promise<ClaimedJob[]>;
  /** Completes `job` as succeeded; with `next` > 0 the reply carries up to that many new jobs. */
  complete(agentId: string, job: ClaimedJob, next: number): Promise<ClaimedJob[]>;
  /**
   * Completes `jobs` as succeeded in one batched call (POST /v1/agent/complete); with `next` > 0 the
   * reply carries up to that many new jobs. Throws unless every result was accepted.
   */
  completeBatch(agentId: string, jobs: ClaimedJob[], next: number): Promise<ClaimedJob[]>;
  /** The credential `agentId` enrolled with through this client, for a call the client does not make. */
  credential(agentId: string): string;
  close(): Promise<void>;
}

/** A raw agent channel (GET /v1/agent/channel): requests by rid, as the agent's channel.ts sends them. */
async function openChannel(controllerUrl: string, token: string) {
  const ws = new WebSocket(`${controllerUrl.replace(/^http/, 'ws')}${agentApiPaths.channel}`, { headers: { authorization: `Bearer ${token}` } });
  const waiting = new Map<number, (r: { status: number; body: unknown }) => void>();
  ws.addEventListener('message', (ev) => {
    const r = JSON.parse(String(ev.data)) as { rid: number; status: number; body: unknown };
    waiting.get(r.rid)?.(r);
    waiting.delete(r.rid);
  });
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve(), { once: true });
    ws.addEventListener('close', () => reject(new Error('the agent channel did not open')), { once: true });
  });
  let rid = 0;
  return {
    call(path: string, body: unknown): Promise<{ status: number; body: unknown }> {
      const id = ++rid;
      return new Promise((resolve) => {
        waiting.set(id, resolve);
        ws.send(JSON.stringify({ rid: id, path, body }));
      });
    },
    close: () => ws.close(1000),
  };
}

/**
 * `transport`: 'channel' sends claims and completes over the agent channel, as the agent does when its
 * controller serves it; 'http' sends every call as its own HTTP request (the fallback road).
 */
export function protoClient(controllerUrl: string, connections = 64, transport: 'channel' | 'http' = 'channel'): ProtoClient {
  const pool = new Pool(controllerUrl, { connections, keepAliveTimeout: 60_000, pipelining: 1 });
  const credentials = new Map<string, string>();
  const channels = new Map<string, Awaited<ReturnType<typeof openChannel>>>();
  const post = async (agentId: string, path: string, body: unknown, timeoutMs = 60_000, token = credentials.get(agentId)): Promise<unknown> => {
    if (!token) throw new Error(`agent ${agentId} is not registered through this client`);
    const channel = channels.get(agentId);
    if (channel && path !== agentApiPaths.register) {
      const r = await channel.call(path, body);
      if (r.status >= 300) throw new Error(`${path} answered ${r.status} on the channel: ${JSON.stringify(r.body)}`);
      return r.body;
    }
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const res = await pool.request({ path, method: 'POST', headers, body: JSON.stringify(body), headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    const data = (await res.body.json()) as unknown;
    if (res.statusCode >= 300) throw new Error(`${path} answered ${res.statusCode}: ${JSON.stringify(data)}`);
    return data;
  };
  return {
    async register(agentId, capacity, leaseMs = 10_000) {
      if (!credentials.has(agentId)) {
        const enrolled = (await post(agentId, agentApiPaths.enroll, { agentId }, 60_000, ENROLL_TOKEN)) as { credential: string };
        credentials.set(agentId, enrolled.credential);
      }
      await post(agentId, agentApiPaths.register, { agentId, hostname: agentId, addresses: ['127.0.0.1'], port: 1, version: 'bench', labels: {}, capacity, leaseMs });
      if (transport === 'channel' && !channels.has(agentId)) channels.set(agentId, await openChannel(controllerUrl, credentials.get(agentId)!));
    },
    async claim(agentId, max, waitMs) {
      const r = (await post(agentId, agentApiPaths.claim, { agentId, max, waitMs, claimId: randomUUID() }, waitMs + 30_000)) as { jobs: ClaimedJob[] };
      return r.jobs;
    },
    async complete(agentId, job, next) {
      const steps = job.steps.map(() => ({ state: 'succeeded', exitCode: 0, startedAt: null, finishedAt: null }));
      const body = { epoch: job.epoch, outcome: 'succeeded', steps, logBytes: 0, ...(next > 0 ? { claim: { agentId, max: next, claimId: randomUUID() } } : {}) };
      const r = (await post(agentId, agentApiPaths.complete(job.id), body)) as { jobs?: ClaimedJob[] };
      return r.jobs ?? [];
    },
    async completeBatch(agentId, jobs, next) {
      const results = jobs.map((job) => ({
        id: job.id,
        epoch: job.epoch,
        outcome: 'succeeded',
        steps: job.steps.map(() => ({ state: 'succeeded', exitCode: 0, startedAt: null, finishedAt: null })),
        logBytes: 0,
      }));
      const body = { results, ...(next > 0 ? { claim: { agentId, max: next, claimId: randomUUID() } } : {}) };
      const r = (await post(agentId, agentApiPaths.completeBatch, body)) as { results: Array<{ status: string }>; jobs?: ClaimedJob[] };
      const refused = r.results.filter((x) => x.status !== 'accepted');
      if (refused.length > 0) throw new Error(`batched complete refused ${refused.length} results: ${JSON.stringify(refused[0])}`);
      return r.jobs ?? [];
    },
    credential(agentId) {
      const c = credentials.get(agentId);
      if (!c) throw new Error(`agent ${agentId} is not registered through this client`);
      return c;
    },
    close: async () => {
      for (const c of channels.values()) c.close();
      await pool.close();
    },
  };
}

/** The platform side: batched POST /v1/jobs and GET /v1/jobs/:id. */
export function platformClient(controllerUrl: string, connections = 8) {
  const pool = new Pool(controllerUrl, { connections, keepAliveTimeout: 60_000 });
  const headers = { authorization: `Bearer ${PLATFORM_TOKEN}`, 'content-type': 'application/json' };
  return {
    /** Posts `jobs` (an object or an array); answers the parsed reply. */
    async submit(jobs: unknown): Promise<unknown> {
      const res = await pool.request({ path: '/v1/jobs', method: 'POST', headers, body: JSON.stringify(jobs) });
      const data = (await res.body.json()) as unknown;
      if (res.statusCode >= 300) throw new Error(`POST /v1/jobs answered ${res.statusCode}: ${JSON.stringify(data)}`);
      return data;
    },
    /** Enqueues `n` jobs of `spec` in batches of `batch`, `parallel` batches in flight. */
    async enqueueMany(n: number, spec: Record<string, unknown>, batch = 1000, parallel = 4): Promise<void> {
      let next = 0;
      await Promise.all(
        Array.from({ length: parallel }, async () => {
          while (next < n) {
            const size = Math.min(batch, n - next);
            next += size;
            await this.submit(Array.from({ length: size }, () => spec));
          }
        }),
      );
    },
    async job(id: string): Promise<Record<string, unknown>> {
      const res = await pool.request({ path: `/v1/jobs/${encodeURIComponent(id)}`, method: 'GET', headers });
      return (await res.body.json()) as Record<string, unknown>;
    },
    async get(path: string): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
      const res = await pool.request({ path, method: 'GET', headers });
      return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) };
    },
    async post(path: string, body: unknown = {}): Promise<number> {
      const res = await pool.request({ path, method: 'POST', headers, body: JSON.stringify(body) });
      await res.body.dump();
      return res.statusCode;
    },
    close: () => pool.close(),
  };
}
export type PlatformClient = ReturnType<typeof platformClient>;
