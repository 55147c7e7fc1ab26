// Regression tests for bugs the chaos suite found, each small and deterministic, named after what broke.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testSigningKeyFile, TEST_ENROLL_TOKEN } from '../helpers/identity.js';
import { freePort } from '../helpers/ports.js';
import { spawnHttpagent, type Spawned } from '../helpers/processes.js';
import { readFileSync } from 'node:fs';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { waitUntil } from '../helpers/wait.js';

const PLATFORM_TOKEN = 'regress-platform-token-0123456789';
let redis: PrivateRedis;
let controller: Spawned;
let url: string;

/** Bytes sent to 127.0.0.1:`port` that the server has not read yet, over all its connections (/proc/net/tcp). */
function unreadBytesAt(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let total = 0;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // f[1] local address, f[3] state (01 established), f[4] tx_queue:rx_queue in hex
    if (f[1] === local && f[3] === '01') total += parseInt(f[4]!.split(':')[1]!, 16);
  }
  return total;
}

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
    HTTPAGENT_ENROLL_TOKEN: TEST_ENROLL_TOKEN,
    HTTPAGENT_SIGNING_KEY_FILE: testSigningKeyFile(),
    HTTPAGENT_PLATFORM_TOKEN: PLATFORM_TOKEN,
  });
  await controller.waitFor(/controller listening/);
}, 120_000);

afterAll(async () => {
  await controller?.kill('SIGKILL');
  await redis?.stop();
});

describe('bugs the chaos suite found', () => {
  it('a controller whose Redis died with commands in flight serves again once Redis is back (the command connection wedged for good)', async () => {
    expect(await get('/healthz', 30_000)).toBe(200);
    const c = redis.client();
    const pid = Number(/process_id:(\d+)/.exec(await c.info('server'))![1]);
    c.disconnect();
    // Frozen, Redis reads nothing: the next requests' commands are written and wait for replies that
    // never come. Then it dies and comes back from its AOF.
    process.kill(pid, 'SIGSTOP');
    const inFlight = Promise.allSettled([get('/v1/jobs?limit=1', 30_000), get('/healthz', 30_000)]);
    // The stopped server reads nothing: its receive queue shows the commands written and waiting.
    await waitUntil('commands waiting unread at the stopped Redis', () => unreadBytesAt(redis.port) > 0);
    await redis.kill();
    await redis.start();
    await inFlight;
    // Before the fix ioredis dropped those commands on reconnect without settling them; the auto-pipeline
    // they sat in never finished, and every later command queued behind it: /healthz never answered again.
    await waitUntil('/healthz to answer 200 again', async () => (await get('/healthz', 2_000)) === 200);
    expect(await get('/v1/jobs?limit=1', 30_000)).toBe(200);
  }, 180_000);
});
