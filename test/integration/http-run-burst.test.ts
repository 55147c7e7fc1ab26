// 500 concurrent POST /v1/run against a pool of 2 with a queue of 8: every call is answered, either
// with the task's result or with 429 + Retry-After; none hangs and none is lost.
import { mkdtempSync, rmSync } from 'node:fs';
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

const TOKEN = 'burst-token-0123456789abcdef';
const tmp = mkdtempSync(join(tmpdir(), 'httpagent-burst-'));
let app: FastifyInstance;
let base = '';
const dispatcher = new Agent({ connections: 600, pipelining: 1 });

beforeAll(async () => {
  const config = agentConfigSchema.parse({
    platformToken: TOKEN,
    agentToken: 'agent-token-0123456789abcdef',
    stateDir: tmp,
    runConcurrency: 2,
    runQueue: 8,
  });
  app = buildAgentServer(config, {
    logger: silentLogger(),
    metrics: createAgentMetrics({ processMetrics: false }),
    tasks: sameUserTasks(fileURLToPath(new URL('../fixtures/http-tasks', import.meta.url))),
    jobs: { running: () => 0, draining: () => false, controllerReachable: () => true, submitJob: async () => ({ id: 'x' }) },
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

it('answers all 500 concurrent calls with 200 or 429', async () => {
  const calls = Array.from({ length: 500 }, async (_, i) => {
    const res = await request(`${base}/v1/run`, {
      method: 'POST',
      dispatcher,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ task: 'slow', params: { SEC: '0.05', N: String(i) } }),
    });
    const body = (await res.body.json()) as any;
    return { status: res.statusCode, retryAfter: res.headers['retry-after'], body };
  });
  const answers = await Promise.all(calls);
  expect(answers).toHaveLength(500);
  const ok = answers.filter((a) => a.status === 200);
  const refused = answers.filter((a) => a.status === 429);
  expect(ok.length + refused.length).toBe(500);
  // At least the pool plus its queue ran; the rest were refused clearly.
  expect(ok.length).toBeGreaterThanOrEqual(10);
  expect(refused.length).toBeGreaterThan(0);
  for (const a of ok) expect(a.body.exitCode).toBe(0);
  for (const a of refused) {
    expect(a.body.error.code).toBe('OVERLOADED');
    expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
  }
  // Nothing is left queued or running afterwards.
  const health = (await (await request(`${base}/healthz`, { dispatcher })).body.json()) as any;
  expect(health.lightTasks).toEqual({ active: 0, queued: 0 });
});
