// Fuzz over every route of both servers (issue 11): the routes are read from each server's own route
// table, so a route added later is fuzzed without anyone listing it here. Each gets a few hundred
// requests from a seeded generator (the same ones on every run, so a failure reproduces): mutated valid
// bodies, random JSON, broken JSON, deep nesting, wrong content types, hostile path ids and queries,
// missing and wrong credentials. Every refusal must be a coded error from the registry with the status
// the registry gives its code, nothing may answer 500, and both servers must still serve afterwards.
// Servers: a real controller (in this process, over a private redis-server) and the agent port (in this
// process) with port tokens from a key the test holds; real HTTP to both.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import pLimit from 'p-limit';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentMetrics } from '../../src/agent/agent-metrics.js';
import { buildAgentServer } from '../../src/agent/port/agent-server.js';
import { agentConfigSchema } from '../../src/shared/config/agent-config.js';
import { errorCodes, isErrorCode } from '../../src/shared/error-codes.js';
import { silentLogger } from '../../src/shared/log.js';
import { createPortTokenSigner, ringFor } from '../helpers/port-tokens.js';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { ENROLL_TOKEN, PLATFORM_TOKEN, agentBody, call, credentialFor, startController, type Running } from './controller-harness.js';
import { sameUserTasks } from '../helpers/task-launcher.js';

const SEED = 0x11_2026;
/** Requests per route (method + path pattern). */
const PER_ROUTE = 250;
const FUZZ_AGENT = 'fuzz-agent';
const AGENT_ID = 'fuzzed-agent-port';

const tmp = mkdtempSync(join(tmpdir(), 'httpagent-fuzz-'));
let redis: PrivateRedis;
let controller: Running;
let agentApp: FastifyInstance;
let agentUrl = '';
let portToken = '';
let credential = '';
let jobId = '';
const dispatcher = new Agent({ connections: 16, headersTimeout: 20_000, bodyTimeout: 20_000 });

interface Route {
  server: 'controller' | 'agent';
  method: string;
  /** With :params. */
  pattern: string;
}

/** Every route in `app.printRoutes({ commonPrefix: false })`, HEAD (fastify's shadow of GET) left out. */
function routesOf(app: FastifyInstance, server: Route['server']): Route[] {
  const out: Route[] = [];
  const stack: Array<{ depth: number; path: string }> = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^((?:│ {3}| {4})*)(?:├── |└── )(\S+)(?: \(([^)]*)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    while (stack.length > depth) stack.pop();
    const path = (stack.at(-1)?.path ?? '') + m[2]!;
    stack.push({ depth, path });
    for (const method of (m[3] ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
      if (method !== 'HEAD') out.push({ server, method, pattern: path });
    }
  }
  return out;
}

beforeAll(async () => {
  redis = await startRedis();
  // longPollMs 0: a fuzzed claim that happens to be valid answers at once instead of waiting. A release
  // store, so a fuzzed upload is judged rather than refused whole (503 RELEASES_DISABLED).
  controller = await startController(redis.url, { longPollMs: 0, bodyLimitBytes: 256 * 1024, logChunkMaxBytes: 16 * 1024, releaseDir: join(tmp, 'releases'), releaseMaxBytes: 1024 * 1024 });
  credential = await credentialFor(controller.url, FUZZ_AGENT);
  await call(controller.url, 'POST', '/v1/agent/register', { body: agentBody(FUZZ_AGENT) });
  jobId = (await call(controller.url, 'POST', '/v1/jobs', { body: { task: 'noop', agent: FUZZ_AGENT } })).body.id;

  const signer = await createPortTokenSigner();
  portToken = await signer.mint(AGENT_ID, { ttlSec: 300 });
  const deleteRoot = join(tmp, 'delete-root');
  mkdirSync(deleteRoot);
  const config = agentConfigSchema.parse({
    agentId: AGENT_ID,
    controllerUrl: 'http://controller.test:9890/',
    stateDir: join(tmp, 'state'),
    bodyLimitBytes: 256 * 1024,
    // Whatever a fuzzed delete names, it can only reach this empty directory.
    deleteRoots: deleteRoot,
    // No user may be changed: a fuzzed authorize is judged and refused, never applied.
    authorizeUsers: 'fuzz-no-such-user',
    jacocoTimeoutSec: 2,
  });
  agentApp = buildAgentServer(config, {
    logger: silentLogger(),
    metrics: createAgentMetrics(),
    tasks: sameUserTasks(fileURLToPath(new URL('../fixtures/http-tasks', import.meta.url)), { hostEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin' } }),
    portKeys: await ringFor(tmp, signer),
    jobs: {
      running: () => 0,
      draining: () => false,
      revoked: () => false,
      controllerReachable: () => true,
      submitJob: async () => ({ id: 'fuzz-job' }),
    },
    version: '0.0.0-fuzz',
    startedAt: Date.now(),
    passwdFile: join(tmp, 'passwd'),
  });
  await agentApp.listen({ host: '127.0.0.1', port: 0 });
  const addr = agentApp.server.address();
  agentUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
}, 60_000);

afterAll(async () => {
  await dispatcher.close();
  await agentApp?.close();
  await controller?.close();
  await redis?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

// ---- the generator

/** mulberry32: small, seeded, the same sequence everywhere. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rnd = () => number;
const pick = <T>(rnd: Rnd, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

const STRINGS = ['', 'noop', 'true', FUZZ_AGENT, AGENT_ID, 'succeeded', 'running', '../../etc/passwd', '/', '/etc/shadow', 'a\u0000b', '\ud800', 'ü€𝄞',
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE', 'k=v;rm -rf /', '$(id)', '%00', 'a'.repeat(300), 'x'.repeat(70_000), '127.0.0.1', '::1', '0x7f000001', 'NaN', '-0'];
const NUMBERS = [0, -1, 1, 2 ** 31, 2 ** 53 + 1, -(2 ** 63), 1e308, 1.5, 65_536, 6300, 0.0001];
const KEYS = ['task', 'steps', 'params', 'agent', 'agentId', 'labels', 'priority', 'maxAttempts', 'timeoutSec', 'idempotencyKey', 'max', 'waitMs', 'claimId', 'epoch',
  'outcome', 'logBytes', 'state', 'hostname', 'addresses', 'port', 'host', 'version', 'capacity', 'leaseMs', 'paths', 'user', 'key', 'ttlSec', 'results', 'samples',
  '__proto__', 'constructor', 'prototype', 'toString', ''];

function randomValue(rnd: Rnd, depth = 0): unknown {
  switch (Math.floor(rnd() * (depth > 2 ? 5 : 7))) {
    case 0: return null;
    case 1: return rnd() < 0.5;
    case 2: return pick(rnd, NUMBERS) * (rnd() < 0.2 ? -1 : 1);
    case 3:
    case 4: return pick(rnd, STRINGS);
    case 5: return Array.from({ length: Math.floor(rnd() * 4) }, () => randomValue(rnd, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(rnd() * 5); i > 0; i--) o[pick(rnd, KEYS)] = randomValue(rnd, depth + 1);
      return o;
    }
  }
}

/** A copy of `v` with one node replaced, removed or added to. */
function mutate(rnd: Rnd, v: unknown): unknown {
  if (v === null || typeof v !== 'object' || rnd() < 0.2) return randomValue(rnd);
  const copy: any = Array.isArray(v) ? [...v] : { ...(v as object) };
  const keys = Object.keys(copy);
  const r = rnd();
  if (keys.length > 0 && r < 0.5) {
    const k = pick(rnd, keys);
    copy[k] = mutate(rnd, copy[k]);
  } else if (keys.length > 0 && r < 0.7) {
    delete copy[pick(rnd, keys)];
  } else if (Array.isArray(copy)) {
    copy.push(randomValue(rnd));
  } else {
    copy[pick(rnd, KEYS)] = randomValue(rnd);
  }
  return copy;
}

/** A valid-looking body per route, so mutants get past the first check and reach deeper ones. */
function seedBody(route: Route): unknown {
  const p = route.pattern;
  if (route.server === 'agent') {
    if (p === '/v1/run') return { task: 'fuzz-no-such-task', params: { A: 'x' }, timeoutSec: 1 };
    if (p === '/v1/delete') return { paths: [join(tmp, 'delete-root', 'nothing')] };
    if (p === '/v1/authorize') return { user: 'fuzz-no-such-user', key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE fuzz' };
    // An address outside jacocoHosts: refused before any connection.
    if (p === '/v1/coverage/jacoco') return { host: '192.0.2.1', port: 6300 };
    if (p === '/v1/jobs') return { task: 'noop', params: { A: 'x' } };
    return {};
  }
  if (p === '/v1/jobs') return { task: 'noop', agent: FUZZ_AGENT, params: { A: 'x' } };
  if (p === '/v1/agent/register') return agentBody(FUZZ_AGENT);
  if (p === '/v1/agent/claim') return { agentId: FUZZ_AGENT, max: 1, waitMs: 0, claimId: 'fuzz-claim-1' };
  if (p === '/v1/agent/heartbeat') return { agentId: FUZZ_AGENT, running: [] };
  if (p === '/v1/agent/enroll') return { agentId: 'fuzz-enrolled' };
  if (p.endsWith('/complete')) return { epoch: 1, outcome: 'succeeded', steps: [], logBytes: 0 };
  if (p === '/v1/agent/complete') return { results: [{ id: jobId, epoch: 1, outcome: 'succeeded', steps: [], logBytes: 0 }] };
  if (p.endsWith('/renew')) return { epoch: 1 };
  if (p.endsWith('/step')) return { epoch: 1, index: 0, state: 'running' };
  if (p.endsWith('/token')) return { ttlSec: 60 };
  if (p.endsWith('/jobs') && p.startsWith('/v1/agent')) return { task: 'noop' };
  return { agentId: FUZZ_AGENT };
}

const PATH_IDS = () => [jobId, FUZZ_AGENT, 'does-not-exist', 'has.dot', '..', '%2e%2e', '%00', '%ZZ', '%', 'a'.repeat(257), 'ü', '%F0%9F%92%A9', '-', '_'];
const QUERIES = ['', '?limit=-1', '?limit=1e309', '?offset=abc', '?offset=0&offset=1', '?follow=2', '?since=yesterday', '?agentId=%00', '?agentId=' + FUZZ_AGENT,
  '?state=lost', '?epoch=1&offset=0', '?epoch=x', '?%ZZ=1', '?__proto__[x]=1', '?limit=' + '9'.repeat(400)];

interface FuzzRequest {
  path: string;
  headers: Record<string, string>;
  body?: Buffer | string;
}

function tokenFor(route: Route): string {
  if (route.server === 'agent') return portToken;
  if (route.pattern === '/v1/agent/enroll') return ENROLL_TOKEN;
  return route.pattern.startsWith('/v1/agent/') ? credential : PLATFORM_TOKEN;
}

function fuzzRequest(rnd: Rnd, route: Route): FuzzRequest {
  let path = route.pattern.replace(/:[A-Za-z]+/g, () => pick(rnd, PATH_IDS()));
  if (rnd() < 0.3) path += pick(rnd, QUERIES);
  const headers: Record<string, string> = {};
  const auth = rnd();
  // Mostly the right credential, so the body is judged; sometimes none, another's or garbage.
  if (auth < 0.85) headers.authorization = `Bearer ${tokenFor(route)}`;
  else if (auth < 0.9) headers.authorization = `Bearer ${route.server === 'agent' ? PLATFORM_TOKEN : portToken}`;
  else if (auth < 0.95) headers.authorization = pick(rnd, ['Bearer ', 'Basic Zm9vOmJhcg==', `Bearer ${'x'.repeat(5000)}`, 'Bearer a.b.c', 'bearer\u00ff']);
  if (route.method === 'GET' || route.method === 'DELETE') {
    if (rnd() < 0.1) return { path, headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(randomValue(rnd)) };
    return { path, headers };
  }
  const shape = rnd();
  const ct = route.pattern.endsWith('/log') ? 'application/octet-stream' : 'application/json';
  if (shape < 0.6) return { path, headers: { ...headers, 'content-type': ct }, body: JSON.stringify(mutate(rnd, seedBody(route))) ?? 'null' };
  if (shape < 0.75) return { path, headers: { ...headers, 'content-type': ct }, body: JSON.stringify(randomValue(rnd)) ?? 'null' };
  if (shape < 0.85) {
    const text = JSON.stringify(seedBody(route)) ?? '{}';
    return { path, headers: { ...headers, 'content-type': 'application/json' }, body: text.slice(0, Math.floor(rnd() * text.length)) };
  }
  if (shape < 0.9) {
    const depth = pick(rnd, [100, 10_000, 100_000]);
    return { path, headers: { ...headers, 'content-type': 'application/json' }, body: pick(rnd, ['[', '{"a":']).repeat(depth) + pick(rnd, ['', '1', ']'.repeat(depth)]) };
  }
  if (shape < 0.95) {
    const bytes = Buffer.from(Array.from({ length: Math.floor(rnd() * 512) }, () => Math.floor(rnd() * 256)));
    return { path, headers: { ...headers, 'content-type': pick(rnd, ['application/json', 'application/json; charset=latin1', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) }, body: bytes };
  }
  return { path, headers: { ...headers, 'content-type': 'application/json' }, body: '' };
}

// ---- the check

interface Finding {
  route: string;
  request: string;
  status: number;
  body: string;
}

/** Undefined when the answer is acceptable; else what is wrong with it. */
function judge(route: Route, status: number, text: string): string | undefined {
  if (status < 400) return undefined;
  let parsed: any;
  try {
    parsed = JSON.parse(text);
  } catch {
    return 'error body is not JSON';
  }
  const code = parsed?.error?.code;
  if (typeof code !== 'string' || typeof parsed.error.message !== 'string') return 'error body is not {"error":{"code","message"}}';
  if (!isErrorCode(code)) return `code ${code} is not in the registry`;
  const spec = errorCodes[code] as { http?: number };
  if (spec.http !== status) return `code ${code} is registered as ${spec.http}, answered ${status}`;
  if (status >= 500) {
    // An upstream that did not answer is not our crash: only the JaCoCo route reaches one (a fuzzed body
    // that names a loopback port nobody listens on). INTERNAL, or any other 5xx, is a bug.
    const upstream = route.server === 'agent' && route.pattern === '/v1/coverage/jacoco' && code.startsWith('JACOCO_') && status === 502;
    if (!upstream) return `answered ${status} ${code}`;
  }
  return undefined;
}

async function fuzzRoute(base: string, route: Route, rnd: Rnd): Promise<{ findings: Finding[]; refused: number }> {
  const reqs = Array.from({ length: PER_ROUTE }, () => fuzzRequest(rnd, route));
  const limit = pLimit(8);
  const findings: Finding[] = [];
  let refused = 0;
  await Promise.all(
    reqs.map((r) =>
      limit(async () => {
        const res = await request(base + r.path, { method: route.method as 'GET', headers: r.headers, body: r.body, dispatcher });
        // An accepted event stream (GET /v1/events) never ends by itself: its answer is the status.
        if (String(res.headers['content-type'] ?? '').startsWith('text/event-stream') && res.statusCode < 400) {
          res.body.destroy();
          return;
        }
        const text = await res.body.text();
        if (res.statusCode >= 400) refused++;
        const wrong = judge(route, res.statusCode, text);
        if (wrong) findings.push({ route: `${route.method} ${route.pattern}`, request: `${route.method} ${r.path} ${String(r.body ?? '').slice(0, 200)}`, status: res.statusCode, body: `${wrong}: ${text.slice(0, 300)}` });
      }),
    ),
  );
  return { findings, refused };
}

describe('fuzz over every route of both servers', () => {
  it(`${PER_ROUTE} seeded requests per route: no 500, every refusal a registered code with its status, both servers serve after`, async () => {
    const routes = [...routesOf(controller.controller.app, 'controller'), ...routesOf(agentApp, 'agent')];
    // The route tables were read: every route both servers have is here (a few known ones as a check
    // that the parsing found them).
    for (const known of ['POST /v1/jobs', 'POST /v1/agent/claim', 'POST /v1/agent/jobs/:id/log', 'DELETE /v1/agents/:id', 'POST /v1/agents/:id/token']) {
      expect(routes.filter((r) => r.server === 'controller').map((r) => `${r.method} ${r.pattern}`)).toContain(known);
    }
    for (const known of ['POST /v1/run', 'POST /v1/delete', 'POST /v1/authorize', 'DELETE /v1/authorize', 'POST /v1/coverage/jacoco', 'GET /metrics']) {
      expect(routes.filter((r) => r.server === 'agent').map((r) => `${r.method} ${r.pattern}`)).toContain(known);
    }

    const rnd = prng(SEED);
    const findings: Finding[] = [];
    let refused = 0;
    // One route at a time, in a fixed order (the generator's sequence, and so every request, is the same
    // each run); reads first, so a list does not page through every job the fuzzed writes created.
    const ordered = [...routes.filter((r) => r.method === 'GET'), ...routes.filter((r) => r.method !== 'GET')];
    for (const route of ordered) {
      const r = await fuzzRoute(route.server === 'agent' ? agentUrl : controller.url, route, rnd);
      findings.push(...r.findings);
      refused += r.refused;
    }
    expect(findings, JSON.stringify(findings.slice(0, 10), null, 2)).toEqual([]);
    // Most fuzzed requests are refusals (the seeds are mutated, not kept): the fuzz reached the checks.
    expect(refused).toBeGreaterThan(routes.length * PER_ROUTE * 0.5);

    // Both still serve, and a job still goes through the controller.
    expect((await call(controller.url, 'GET', '/healthz', { token: null })).status).toBe(200);
    expect((await request(`${agentUrl}/healthz`, { dispatcher })).statusCode).toBe(200);
    const run = await request(`${agentUrl}/v1/run`, { method: 'POST', dispatcher, headers: { authorization: `Bearer ${portToken}`, 'content-type': 'application/json' }, body: '{"task":"true"}' });
    expect(run.statusCode).toBe(200);
    await run.body.dump();
    const job = await call(controller.url, 'POST', '/v1/jobs', { body: { task: 'noop', agent: 'after-fuzz' } });
    expect(job.status).toBe(201);
    // ~8,500 requests: about 13 s of CPU in this process (servers and client); the bound is for a loaded machine.
  }, 180_000);
});
