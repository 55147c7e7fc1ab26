// The physical floor as an anchor: the least any design with a controller in the middle can cost, measured
// in the same run as ours, on the same kind of private Redis, so that a figure can say how far above the
// floor it is rather than quote absolute numbers that say more about the machine than about the code.
//   no-op jobs: per job one HTTP round trip to a fastify route that does one EVALSHA of a no-op script;
//   log streaming: one Node process POSTing the same bytes in 1 MiB chunks to a route that only RPUSHes.
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { benchProcess, redisSource, startCpuMeter, perUnit } from './cpu-time.js';
import type { Measurement } from './rounds.js';
import { now } from './stats.js';
import { spawnBenchScript, stop, withRedis } from './system.js';
import type { Spawned } from '../../test/helpers/processes.js';

const serverEntry = fileURLToPath(new URL('./floor-server.ts', import.meta.url));
const posterEntry = fileURLToPath(new URL('./log-poster.ts', import.meta.url));
const FLOOR_LOG_KEY = 'bench:floor:log';

async function startFloorServer(redisUrl: string): Promise<{ url: string; proc: Spawned }> {
  const proc = spawnBenchScript(serverEntry, [redisUrl]);
  const line = await proc.waitFor(/LISTENING \d+/, 30_000);
  return { url: `http://127.0.0.1:${/LISTENING (\d+)/.exec(line)![1]}`, proc };
}

/**
 * n no-op "jobs" one at a time (concurrency 1) against the floor server on a fresh Redis, after a
 * warm-up: jobs/s, and CPU µs per job of the server, the bench process (the client) and Redis.
 */
export async function noopFloor(n: number, warm: number): Promise<Measurement> {
  return withRedis(async (redis) => {
    const server = await startFloorServer(redis.url);
    const pool = new Pool(server.url, { connections: 1, keepAliveTimeout: 60_000, headersTimeout: 30_000, bodyTimeout: 30_000 });
    const admin = redis.client();
    try {
      const once = async (): Promise<void> => {
        const res = await pool.request({ path: '/noop', method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
        await res.body.dump();
        if (res.statusCode !== 200) throw new Error(`floor /noop answered ${res.statusCode}`);
      };
      for (let i = 0; i < warm; i++) await once();
      const meter = await startCpuMeter([{ label: 'floor server', pid: server.proc.proc.pid! }, benchProcess(), await redisSource(admin)]);
      const t0 = now();
      for (let i = 0; i < n; i++) await once();
      const rate = n / ((now() - t0) / 1000);
      const cpu = perUnit(await meter.stop(), n);
      return { values: { rate }, cpu: cpu.total, detail: { n, cpuUsPerJob: cpu.by } };
    } finally {
      admin.disconnect();
      await pool.close();
      await stop(server.proc);
    }
  });
}

/**
 * `mib` MiB POSTed in 1 MiB chunks by a poster process to the floor server on a fresh Redis: MB/s, bytes
 * lost (what did not reach the list), the poster's peak RSS, and CPU ms per MiB of server, poster, Redis.
 */
export async function logFloor(mib: number): Promise<Measurement> {
  return withRedis(async (redis) => {
    const server = await startFloorServer(redis.url);
    const poster = spawnBenchScript(posterEntry, [server.url, String(mib)]);
    const admin = redis.client();
    try {
      await poster.waitFor(/READY/, 30_000);
      const meter = await startCpuMeter([{ label: 'floor server', pid: server.proc.proc.pid! }, { label: 'poster', pid: poster.proc.pid! }, await redisSource(admin)]);
      poster.proc.kill('SIGUSR2');
      const line = await poster.waitFor(/DONE \{.*\}/, 600_000);
      const cpu = perUnit(await meter.stop(), mib, 1e3);
      const done = JSON.parse(/DONE (\{.*\})/.exec(line)![1]!) as { seconds: number; bytes: number; peakRssMb: number };
      // Bytes that reached Redis: the list's chunks read back one by one, summed by length.
      const chunks = await admin.llen(FLOOR_LOG_KEY);
      let stored = 0;
      for (let i = 0; i < chunks; i++) stored += (await admin.lindexBuffer(FLOOR_LOG_KEY, i))?.length ?? 0;
      await admin.del(FLOOR_LOG_KEY);
      return {
        values: { mbPerSecond: done.bytes / 1e6 / done.seconds, lost: done.bytes - stored, rssMb: done.peakRssMb },
        cpu: cpu.total,
        detail: { mib, seconds: done.seconds, cpuMsPerMiB: cpu.by },
      };
    } finally {
      admin.disconnect();
      await stop(poster);
      await stop(server.proc);
    }
  });
}
