// Waits until a redis-server this project started answers PING (npm start and the tests start their own).
import { Redis } from 'ioredis';
import { withRetry } from '../shared/retry.js';

export async function waitForRedis(port: number, opts: { host?: string; timeoutMs?: number; what?: string } = {}): Promise<void> {
  const host = opts.host ?? '127.0.0.1';
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  try {
    await withRetry(
      async () => {
        const c = new Redis({ port, host, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
        c.on('error', () => undefined); // refused while it starts: expected, withRetry tries again
        try {
          await c.connect();
          await c.ping();
        } finally {
          c.disconnect();
        }
      },
      // A server starting on this host answers within milliseconds: poll often, no need to back off.
      { backoff: { baseMs: 50, capMs: 50 }, judge: () => (Date.now() > deadline ? 'give-up' : 'retry') },
    );
  } catch {
    throw new Error(`redis-server on ${host}:${port} did not start${opts.what ? `; ${opts.what}` : ''}`);
  }
}
