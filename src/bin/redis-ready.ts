// Waits until a redis-server this project started answers PING (npm start and the tests start their own).
import { Redis } from 'ioredis';

export async function waitForRedis(port: number, opts: { host?: string; timeoutMs?: number; what?: string } = {}): Promise<void> {
  const host = opts.host ?? '127.0.0.1';
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  for (;;) {
    const c = new Redis({ port, host, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on('error', () => undefined); // refused while it starts: expected, the loop retries
    try {
      await c.connect();
      await c.ping();
      c.disconnect();
      return;
    } catch {
      c.disconnect();
      if (Date.now() > deadline) throw new Error(`redis-server on ${host}:${port} did not start${opts.what ? `; ${opts.what}` : ''}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
