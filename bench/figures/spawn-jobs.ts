// Figure 4: jobs whose one step spawns `true`, through the real path (controller process, a real
// `httpagent agent` process claiming, spawning under its pool, reporting), vs a bare execa loop
// spawning the same script at the same concurrency in the bench process.
import { join } from 'node:path';
import { execa } from 'execa';
import pLimit from 'p-limit';
import { jobsFinished } from '../lib/agent-metrics.js';
import { benchTasksDir, until, type Figure } from '../lib/figure.js';
import { platformClient } from '../lib/proto-client.js';
import type { Row } from '../lib/report.js';
import { commandStats, statsDelta } from '../lib/redis-stats.js';
import { now } from '../lib/stats.js';
import { cpuSeconds, startAgent, startController, withRedis, stop } from '../lib/system.js';

/** Spawns the script n times at `concurrency`: jobs/s, and this process's CPU per spawn (ms). */
async function execaLoop(concurrency: number, n: number): Promise<{ rate: number; cpuMs: number }> {
  const limit = pLimit(concurrency);
  const file = join(benchTasksDir, 'true');
  const c0 = process.cpuUsage();
  const t0 = now();
  await Promise.all(Array.from({ length: n }, () => limit(() => execa(file, [], { stdin: 'ignore' }))));
  const rate = n / ((now() - t0) / 1000);
  const c = process.cpuUsage(c0);
  return { rate, cpuMs: (c.user + c.system) / 1000 / n };
}

export const spawnJobs: Figure = {
  name: 'spawn-jobs',
  async run(ctx) {
    const rows: Row[] = [];
    for (const c of ctx.quick ? [4] : [4, 16]) {
      const n = ctx.quick ? 200 : 2000;
      let cpu = { agent: NaN, controller: NaN };
      let scriptsPerJob = NaN;
      const ours = await withRedis(async (redis) => {
        const controller = await startController(redis.url);
        const platform = platformClient(controller.url, 4);
        const agent = await startAgent(controller.url, `spawn-${c}`, { HTTPAGENT_TASKS_DIR: benchTasksDir, HTTPAGENT_CONCURRENCY: String(c), HTTPAGENT_LOG_LEVEL: 'error' });
        try {
          // Warm-up: the agent registered, its claim loop and the script path are hot.
          const warm = 20;
          await platform.enqueueMany(warm, { task: 'true' }, warm, 1);
          await until('warm-up jobs', async () => ((await jobsFinished(agent.url)) >= warm ? true : undefined), 60_000, 20);
          const admin = redis.client();
          const stats0 = await commandStats(admin);
          const cpu0 = { agent: await cpuSeconds(agent.proc.proc.pid!), controller: await cpuSeconds(controller.proc.proc.pid!) };
          const t0 = now();
          await platform.enqueueMany(n, { task: 'true' }, 500, 2);
          await until('spawn jobs', async () => ((await jobsFinished(agent.url)) >= warm + n ? true : undefined), 300_000, 50);
          const rate = n / ((now() - t0) / 1000);
          // CPU of the agent process itself (its scripts are children, not counted) and of the controller.
          cpu = {
            agent: ((await cpuSeconds(agent.proc.proc.pid!)) - cpu0.agent) * 1000 / n,
            controller: ((await cpuSeconds(controller.proc.proc.pid!)) - cpu0.controller) * 1000 / n,
          };
          const d = statsDelta(stats0, await commandStats(admin));
          admin.disconnect();
          scriptsPerJob = ((d.commands.evalsha?.calls ?? 0) + (d.commands.eval?.calls ?? 0)) / n;
          return rate;
        } finally {
          await platform.close();
          await stop(agent.proc);
          await stop(controller.proc);
        }
      });
      const { rate: bare, cpuMs: bareCpu } = await execaLoop(c, n);
      ctx.detail(`c${c}`, { n, httpagent: ours, execa: bare, cpuMsPerJob: cpu, execaCpuMsPerSpawn: bareCpu, redisScriptsPerJob: scriptsPerJob });
      rows.push({
        bench: 'spawn-jobs',
        figure: `jobs spawning \`true\`, concurrency ${c}`,
        unit: 'jobs/s',
        ours,
        anchor: bare,
        anchorName: 'bare execa',
        target: 'ratio ≥ 0.8',
        met: ours / bare >= 0.8,
        note: `${c === 4 ? `${n} jobs posted at once to an idle real agent (HTTPAGENT_CONCURRENCY=c), timed until its /metrics count them done; anchor: p-limit(c) + execa of the same script; ` : ''}CPU per job: agent process ${cpu.agent.toFixed(1)} ms, controller ${cpu.controller.toFixed(1)} ms (bare execa: ${bareCpu.toFixed(1)} ms in its parent per spawn); ${scriptsPerJob.toFixed(1)} controller scripts per job`,
      });
    }
    return rows;
  },
};
