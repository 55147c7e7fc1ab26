// Attack: more connections than the server should hold. Past httpMaxConnections each new one is closed
// as it is accepted, and the refusals are logged once per interval with a count, not once per socket
// (a log line per refused socket would let the attacker flood the log too).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentMetrics } from '../../src/agent/agent-metrics.js';
import { buildAgentServer } from '../../src/agent/port/agent-server.js';
import { agentConfigSchema } from '../../src/shared/config/agent-config.js';
import { createLogger } from '../../src/shared/log.js';
import { createPortTokenSigner, ringFor } from '../helpers/port-tokens.js';
import { rawConnect, type RawConnection } from '../helpers/raw-http.js';
import { waitUntil } from '../helpers/wait.js';
import { sameUserTasks } from '../helpers/task-launcher.js';

const CAP = 20;
const OVER = 50;
const tmp = mkdtempSync(join(tmpdir(), 'httpagent-cap-'));
const lines: Array<{ msg: string; refused?: Record<string, number> }> = [];
let app: FastifyInstance;
let base = '';
const conns: RawConnection[] = [];

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as (typeof lines)[number]);
      done();
    },
  });
  const config = agentConfigSchema.parse({
    agentId: 'cap-agent',
    controllerUrl: 'http://controller.test:9890/',
    stateDir: join(tmp, 'state'),
    httpMaxConnections: CAP,
  });
  app = buildAgentServer(config, {
    logger: createLogger({ level: 'warn', destination: sink }),
    metrics: createAgentMetrics(),
    tasks: sameUserTasks(tmp),
    portKeys: await ringFor(tmp, await createPortTokenSigner()),
    jobs: { running: () => 0, draining: () => false, revoked: () => false, controllerReachable: () => true, submitJob: async () => ({ id: 'unused' }) },
    version: '0.0.0',
    startedAt: Date.now(),
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});

afterAll(async () => {
  for (const c of conns) c.destroy();
  await app?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const openConnections = () => new Promise<number>((resolve, reject) => app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));

const until = (what: string, check: () => Promise<boolean>) => waitUntil(what, check, { timeoutMs: 10_000 });

describe('the connection cap', () => {
  it(`closes connections past ${CAP} as they arrive, serves again once below it, and logs the refusals in summaries`, async () => {
    for (let i = 0; i < CAP; i++) conns.push(await rawConnect(base));
    await until('the server to count the held connections', async () => (await openConnections()) === CAP);

    const refused = await Promise.all(Array.from({ length: OVER }, () => rawConnect(base)));
    const closes = await Promise.all(refused.map((c) => c.closed));
    expect(closes.every((c) => c.byPeer)).toBe(true);
    expect(refused.every((c) => c.received().length === 0)).toBe(true);

    for (const c of conns.splice(0)) c.destroy();
    await until('the held connections to be gone', async () => (await openConnections()) === 0);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);

    await app.close(); // flushes the summary still counted
    const refusals = lines.filter((l) => l.msg === 'refused hostile or overloading HTTP clients');
    // The first refusal at once, the rest in one summary: two lines for fifty sockets.
    expect(refusals).toHaveLength(2);
    expect(refusals.reduce((n, l) => n + (l.refused?.CONNECTION_CAP ?? 0), 0)).toBe(OVER);
  });
});
