// A private three-master Redis Cluster on loopback, for proving the scripts never cross slots.
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';
import { spawnRedis } from './redis-server.js';
import { waitUntil } from './wait.js';

const run = promisify(execFile);

export interface PrivateCluster {
  /** host:port of every master. */
  nodes: string[];
  stop(): Promise<void>;
}

const canListen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });

/** Ports whose cluster bus port (port + 10000) is free as well. */
async function clusterPort(): Promise<number> {
  for (;;) {
    const p = await freePort();
    if (p + 10000 <= 65535 && (await canListen(p + 10000))) return p;
  }
}

export async function startRedisCluster(): Promise<PrivateCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'httpagent-cluster-'));
  const procs: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(procs.map((p) => new Promise<void>((r) => (p.exitCode !== null || p.signalCode !== null ? r() : (p.once('exit', () => r()), p.kill('SIGTERM'))))));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ports: number[] = [];
    for (let i = 0; i < 3; i++) {
      // A port taken between the probe and the bind: try another.
      for (let tries = 0; ; tries++) {
        const port = await clusterPort();
        const nodeDir = join(dir, String(port));
        mkdirSync(nodeDir, { recursive: true });
        try {
          procs.push(await spawnRedis(port, ['--dir', nodeDir, '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--save', '', '--appendonly', 'no']));
          ports.push(port);
          break;
        } catch (err) {
          if (tries >= 3) throw err;
        }
      }
    }
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    await waitUntil('the cluster to report cluster_state:ok', async () => {
      const c = new Redis({ port: ports[0], host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
      try {
        await c.connect();
        return String(await c.cluster('INFO')).includes('cluster_state:ok');
      } finally {
        c.disconnect();
      }
    });
    return { nodes: ports.map((p) => `127.0.0.1:${p}`), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
