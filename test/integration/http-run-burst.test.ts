// 500 concurrent POST /v1/run against a pool of 2 with a queue of 8: every call is answered, either
// with the task's result or with 429 + Retry-After; none hangs and none is lost.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { agentConfigSchema } from '../../src/shared/config/agent-config.js';
import { buildAgentServer } from '../../src/agent/port/agent-server.js';
import { silentLogger } from '../../src/shared/log.js';
import { createAgentMetrics } from '../../src/agent/agent-metrics.js';
import { sameUserTasks } from '../helpers/task-launcher.js';
import { createPortTokenSigner, ringFor } from '../helpers/port-tokens.js';
import { waitUntil } from '../helpers/wait.js';

/** A port token for the agent under test, minted in beforeAll. */
let TOKEN = '';
const tmp = mkdtempSync(join(tmpdir(), 'httpagent-burst-'));
let app: FastifyInstance;
let base = '';
const dispatcher = new Agent({ connections: 600, pipelining: 1 });

beforeAll(async () => {
  const config = agentConfigSchema.parse({
    stateDir: tmp,
    runConcurrency: 2,
    runQueue: 8,
  });
  const signer = await createPortTokenSigner();
  TOKEN = await signer.mint(config.agentId, { ttlSec: 300 });
  app = buildAgentServer(config, {
    portKeys: await ringFor(tmp, signer),
    logger: silentLogger(),
    metrics: createAgentMetrics({ processMetrics: false }),
    tasks: sameUserTasks(fileURLToPath(new URL('../fixtures/http-tasks', import.meta.url)), { hostEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin' } }),
    jobs: { running: () => 0, draining: () => false, revoked: () => false, controllerReachable: () => true, submitJob: async () => ({ id: 'x' }) },
    version: '0.0.0',
    startedAt: Date.now(),
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});

afterAll(async () => {
  await app?.close();
  await dispatcher.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function post(task: string, params: Record<string, string>) {
  const res = await request(`${base}/v1/run`, {
    method: 'POST',
    dispatcher,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ task, params }),
  });
  const body = (await res.body.json()) as any;
  return { status: res.statusCode, retryAfter: res.headers['retry-after'], body };
}
/** The pool's counts, from /healthz with a credential (without one it says only ok or draining). */
const lightTasks = async () =>
  ((await (await request(`${base}/healthz`, { dispatcher, headers: { authorization: `Bearer ${TOKEN}` } })).body.json()) as any).lightTasks as { active: number; queued: number };

it('answers all 500 concurrent calls: the pool and its queue run, every other call gets 429 at once', async () => {
  // Ten calls fill the pool (2) and its queue (8) with tasks that hold their place until the gate opens,
  // so which calls are refused does not depend on how fast tasks start on this machine.
  const gate = join(tmp, 'burst.open');
  const held = Array.from({ length: 10 }, () => post('gate', { OPEN: gate }));
  await waitUntil('the pool and its queue full', async () => {
    const t = await lightTasks();
    return t.active === 2 && t.queued === 8;
  });
  // 490 more at once: no place frees up meanwhile, so each is answered 429 without waiting.
  const refused = await Promise.all(Array.from({ length: 490 }, (_, i) => post('slow', { SEC: '0.05', N: String(i) })));
  writeFileSync(gate, '');
  const ok = await Promise.all(held);
  expect(ok.map((a) => a.status)).toEqual(Array(10).fill(200));
  for (const a of ok) expect(a.body).toMatchObject({ exitCode: 0, stdout: 'opened\n' });
  expect(refused.map((a) => a.status)).toEqual(Array(490).fill(429));
  for (const a of refused) {
    expect(a.body.error.code).toBe('OVERLOADED');
    expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
  }
  // Nothing is left queued or running afterwards, and the pool takes work again.
  expect(await lightTasks()).toEqual({ active: 0, queued: 0 });
  expect((await post('slow', { SEC: '0' })).status).toBe(200);
});
