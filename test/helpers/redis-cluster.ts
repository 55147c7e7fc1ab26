// A private three-master Redis Cluster on loopback, for proving the scripts never cross slots.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { waitForRedis } from '../../src/bin/redis-ready.js';
import { freePort } from './ports.js';

const run = promisify(execFile);

export interface PrivateCluster {
  /** host:port of every master. */
  nodes: string[];
  stop(): Promise<void>;
}

/** Ports whose cluster bus port (port + 10000) is free as well. */
async function clusterPort(): Promise<number> {
  for (;;) {
    const p = await freePort();
    if (p + 10000 > 65535) continue;
    try {
      const bus = await new Promise<boolean>((resolve) => {
        const probe = spawn(process.execPath, ['-e', `require('net').createServer().once('error',()=>process.exit(1)).listen(${p + 10000},'127.0.0.1',function(){this.close(()=>process.exit(0))})`]);
        probe.on('exit', (code) => resolve(code === 0));
      });
      if (bus) return p;
    } catch {
      /* try another */
    }
  }
}

export async function startRedisCluster(): Promise<PrivateCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'httpagent-cluster-'));
  const procs: ChildProcess[] = [];
  const ports: number[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await clusterPort();
    ports.push(port);
    const nodeDir = join(dir, String(port));
    await run('mkdir', ['-p', nodeDir]);
    procs.push(
      spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', nodeDir, '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' }),
    );
  }
  for (const port of ports) await waitForRedis(port);
  await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const c = new Redis({ port: ports[0], host: '127.0.0.1' });
    const info = await c.cluster('INFO');
    c.disconnect();
    if (String(info).includes('cluster_state:ok')) break;
    if (Date.now() > deadline) throw new Error('cluster did not become ok');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    nodes: ports.map((p) => `127.0.0.1:${p}`),
    stop: async () => {
      await Promise.all(procs.map((p) => new Promise<void>((r) => (p.exitCode !== null ? r() : (p.once('exit', () => r()), p.kill('SIGTERM'))))));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
