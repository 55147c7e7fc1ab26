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
  /** Start it again on the same port and dir. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface RedisOptions {
  aof?: boolean;
  extraArgs?: string[];
}

export async function startRedis(opts: RedisOptions = {}): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'httpagent-redis-'));
  let proc: ChildProcess | undefined;

  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--save', '',
    '--appendonly', opts.aof ? 'yes' : 'no',
    '--appendfsync', 'everysec',
    ...(opts.extraArgs ?? []),
  ];

  const start = async (): Promise<void> => {
    proc = spawn('redis-server', args, { stdio: 'ignore' });
    await waitForRedis(port);
  };

  const waitExit = (p: ChildProcess | undefined): Promise<void> =>
    new Promise((resolve) => {
      if (!p || p.exitCode !== null || p.signalCode !== null) return resolve();
      p.once('exit', () => resolve());
    });

  await start();
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
    start,
    stop: async () => {
      const p = proc;
      p?.kill('SIGTERM');
      await waitExit(p);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
