// listensOn (src/bin/port-owner.ts): npm start believes a port's answer only from the child it started
// there. Regression: a controller still waiting for Redis looked "up" to npm start because another
// test's server had taken its port and answered /healthz.
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { listensOn } from '../../src/bin/port-owner.js';

const cleanup: Array<() => void> = [];
afterEach(() => {
  while (cleanup.length) cleanup.pop()!();
});

async function listening(host: string): Promise<number> {
  const srv = createServer();
  srv.listen(0, host);
  await once(srv, 'listening');
  cleanup.push(() => srv.close());
  return (srv.address() as AddressInfo).port;
}

describe('listensOn', () => {
  it('names the process holding a listening port, on IPv4 and IPv6', async () => {
    expect(await listensOn(process.pid, await listening('127.0.0.1'))).toBe(true);
    expect(await listensOn(process.pid, await listening('::1'))).toBe(true);
  });

  it('is false for another process on that port, and for a port nobody listens on', async () => {
    const port = await listening('127.0.0.1');
    // Our parent (the test runner) is alive and holds sockets, but not this one.
    expect(await listensOn(process.ppid, port)).toBe(false);
    const srv = createServer();
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const closedPort = (srv.address() as AddressInfo).port;
    await new Promise((r) => srv.close(r));
    expect(await listensOn(process.pid, closedPort)).toBe(false);
  });

  it('is false for a process that is gone', async () => {
    const port = await listening('127.0.0.1');
    let gone = 4_000_000;
    while (existsSync(`/proc/${gone}`)) gone--;
    expect(await listensOn(gone, port)).toBe(false);
  });
});
