// Regression tests for bugs the chaos suite found, each small and deterministic, named after what broke.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { spawnHttpagent, type Spawned } from '../helpers/processes.js';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';

const PLATFORM_TOKEN = 'regress-platform-token-0123456789';
let redis: PrivateRedis;
let controller: Spawned;
let url: string;

async function get(path: string, timeoutMs: number): Promise<number> {
  const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${PLATFORM_TOKEN}` }, signal: AbortSignal.timeout(timeoutMs) });
  await res.arrayBuffer();
  return res.status;
}

beforeAll(async () => {
  redis = await startRedis({ aof: true, extraArgs: ['--appendfsync', 'always'] });
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  controller = spawnHttpagent(['controller'], {
    HTTPAGENT_REDIS_URL: redis.url,
    HTTPAGENT_LISTEN: `127.0.0.1:${port}`,
    HTTPAGENT_AGENT_TOKEN: 'regress-agent-token-0123456789',
    HTTPAGENT_PLATFORM_TOKEN: PLATFORM_TOKEN,
  });
  await controller.waitFor(/controller listening/);
}, 60_000);

afterAll(async () => {
  await controller?.kill('SIGKILL');
  await redis?.stop();
});

describe('bugs the chaos suite found', () => {
  it('a controller whose Redis died with commands in flight serves again once Redis is back (the command connection wedged for good)', async () => {
    expect(await get('/healthz', 10_000)).toBe(200);
    const c = redis.client();
    const pid = Number(/process_id:(\d+)/.exec(await c.info('server'))![1]);
    c.disconnect();
    // Frozen, Redis reads nothing: the next requests' commands are written and wait for replies that
    // never come. Then it dies and comes back from its AOF.
    process.kill(pid, 'SIGSTOP');
    const inFlight = Promise.allSettled([get('/v1/jobs?limit=1', 5_000), get('/healthz', 5_000)]);
    await new Promise((r) => setTimeout(r, 500));
    await redis.kill();
    await redis.start();
    await inFlight;
    // Before the fix ioredis dropped those commands on reconnect without settling them; the auto-pipeline
    // they sat in never finished, and every later command queued behind it: /healthz never answered again.
    let status = 0;
    const deadline = Date.now() + 30_000;
    while (status !== 200 && Date.now() < deadline) {
      status = await get('/healthz', 2_000).catch(() => 0);
      if (status !== 200) await new Promise((r) => setTimeout(r, 250));
    }
    expect(status).toBe(200);
    expect(await get('/v1/jobs?limit=1', 10_000)).toBe(200);
  }, 90_000);
});
