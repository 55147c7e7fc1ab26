// A private redis-server per test file, on a free port, in a temp dir: tests can kill and restart it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { waitForRedis } from '../../src/bin/redis-ready.js';
import { freePort } from './ports.js';

export interface PrivateRedis {
  port: number;
  url: string;
  dir: string;
  /** A fresh client (the caller quits it). */
  client(): Redis;
  /** SIGKILL the server (AOF keeps what was fsynced). */
  kill(): Promise<void>;
  /** SHUTDOWN, what SIGTERM does: a clean stop that fsyncs the AOF. Resolves once the process has exited. */
  shutdown(): Promise<void>;
  /** Start it again on the same port and dir. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface RedisOptions {
  aof?: boolean;
  extraArgs?: string[];
}

/**
 * Starts redis-server on `port` in its own process group and resolves once it answers PING. Rejects if
 * it exits first (a port taken between freePort() and the bind): PING must never reach someone else's.
 */
export async function spawnRedis(port: number, args: string[]): Promise<ChildProcess> {
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
  proc.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
  const exited = new Promise<never>((_, reject) => {
    proc.once('exit', (code, signal) => reject(new Error(`redis-server on port ${port} exited (${code ?? signal}) before answering:\n${out}`)));
  });
  exited.catch(() => undefined);
  await Promise.race([waitForRedis(port, { timeoutMs: 30_000 }), exited]);
  return proc;
}

export async function startRedis(opts: RedisOptions = {}): Promise<PrivateRedis> {
  let port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'httpagent-redis-'));
  let proc: ChildProcess | undefined;

  const args = () => [
    '--dir', dir,
    '--save', '',
    '--appendonly', opts.aof ? 'yes' : 'no',
    '--appendfsync', 'everysec',
    ...(opts.extraArgs ?? []),
  ];

  const start = async (): Promise<void> => {
    proc = await spawnRedis(port, args());
  };

  const waitExit = (p: ChildProcess | undefined): Promise<void> =>
    new Promise((resolve) => {
      if (!p || p.exitCode !== null || p.signalCode !== null) return resolve();
      p.once('exit', () => resolve());
    });

  // The first start may lose its port to another process; later starts must keep it (clients know it).
  for (let tries = 0; ; tries++) {
    try {
      await start();
      break;
    } catch (err) {
      if (tries >= 3 || !/Address already in use/i.test(String(err))) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
      port = await freePort();
    }
  }
  return {
    port,
    dir,
    url: `redis://127.0.0.1:${port}`,
    client: () => new Redis({ port, host: '127.0.0.1' }),
    kill: async () => {
      const p = proc;
      p?.kill('SIGKILL');
      await waitExit(p);
    },
    shutdown: async () => {
      const p = proc;
      const c = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0, retryStrategy: () => null });
      c.on('error', () => undefined); // the hang-up is the point
      await c.call('SHUTDOWN').catch(() => undefined); // the server hangs up instead of answering
      c.disconnect();
      await waitExit(p);
    },
    start,
    stop: async () => {
      const p = proc;
      p?.kill('SIGTERM');
      await waitExit(p);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
