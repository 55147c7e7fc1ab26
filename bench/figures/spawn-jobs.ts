// Figure 4: jobs whose one step spawns `true`, through the real path (controller process, a real
// `httpagent agent` process claiming, spawning under its pool, reporting), vs a bare execa loop
// spawning the same script at the same concurrency in the bench process; interleaved rounds, ours on a
// fresh Redis each. CPU per job counts the spawned scripts on both sides (reaped children's times).
import { join } from 'node:path';
import { execa } from 'execa';
import pLimit from 'p-limit';
import { benchProcess, perUnit, redisSource, startCpuMeter } from '../lib/cpu-time.js';
import { benchTasksDir, until, type Figure } from '../lib/figure.js';
import { platformClient } from '../lib/proto-client.js';
import type { Row } from '../lib/report.js';
import { commandStats, jobsFinishedIn, statsDelta } from '../lib/redis-stats.js';
import { interleave, roundsRow, type Measurement } from '../lib/rounds.js';
import { now } from '../lib/stats.js';
import { startAgent, startController, withRedis, stop } from '../lib/system.js';

/** Spawns the script n times at `concurrency`: jobs/s, and CPU ms per spawn of this process and its children. */
async function execaRound(concurrency: number, n: number): Promise<Measurement> {
  const limit = pLimit(concurrency);
  const file = join(benchTasksDir, 'true');
  const meter = await startCpuMeter([{ ...benchProcess(), children: true }]);
  const t0 = now();
  await Promise.all(Array.from({ length: n }, () => limit(() => execa(file, [], { stdin: 'ignore' }))));
  const rate = n / ((now() - t0) / 1000);
  const cpu = perUnit(await meter.stop(), n, 1e3);
  return { values: { rate }, cpu: cpu.total, detail: { n, cpuMsPerJob: cpu.by } };
}

async function oursRound(c: number, n: number, round: number): Promise<Measurement> {
  return withRedis(async (redis) => {
    const controller = await startController(redis.url);
    const platform = platformClient(controller.url, 4);
    const agent = await startAgent(controller.url, `spawn-${c}-${round}`, { HTTPAGENT_TASKS_DIR: benchTasksDir, HTTPAGENT_CONCURRENCY: String(c), HTTPAGENT_LOG_LEVEL: 'error' });
    // Progress is read from the controller's counters in Redis, not the agent's /metrics: a scrape every
    // 50 ms cost the agent ~5 ms of CPU each, charged to every job.
    const admin = redis.client();
    try {
      // Warm-up: the agent registered, its claim loop and the script path are hot.
      const warm = 20;
      await platform.enqueueMany(warm, { task: 'true' }, warm, 1);
      await until('warm-up jobs', async () => ((await jobsFinishedIn(admin)) >= warm ? true : undefined), 60_000, 20);
      const stats0 = await commandStats(admin);
      // The agent with its reaped children (the scripts), the controller and Redis; not the bench's platform client.
      const meter = await startCpuMeter([{ label: 'agent', pid: agent.proc.proc.pid!, children: true }, { label: 'controller', pid: controller.proc.proc.pid! }, await redisSource(admin)]);
      const t0 = now();
      await platform.enqueueMany(n, { task: 'true' }, 500, 2);
      await until('spawn jobs', async () => ((await jobsFinishedIn(admin)) >= warm + n ? true : undefined), 300_000, 20);
      const rate = n / ((now() - t0) / 1000);
      const cpu = perUnit(await meter.stop(), n, 1e3);
      const d = statsDelta(stats0, await commandStats(admin));
      const scriptsPerJob = ((d.commands.evalsha?.calls ?? 0) + (d.commands.eval?.calls ?? 0)) / n;
      return { values: { rate }, cpu: cpu.total, detail: { n, cpuMsPerJob: cpu.by, redisScriptsPerJob: scriptsPerJob } };
    } finally {
      admin.disconnect();
      await platform.close();
      await stop(agent.proc);
      await stop(controller.proc);
    }
  });
}

export const spawnJobs: Figure = {
  name: 'spawn-jobs',
  interleaved: true,
  async run(ctx) {
    const rows: Row[] = [];
    for (const c of ctx.quick ? [4] : [4, 16]) {
      const n = ctx.quick ? 200 : 1000;
      const res = await interleave(ctx, {
        label: `spawn c=${c}`,
        cpuUnit: 'ms/job',
        better: { rate: 'higher' },
        ours: (round) => oursRound(c, n, round),
        anchors: { execa: () => execaRound(c, n) },
      });
      const note =
        c === 4
          ? `${n} jobs per side and round posted at once to an idle real agent (HTTPAGENT_CONCURRENCY=c), timed until the controller's counters in Redis count them succeeded; anchor: p-limit(c) + execa of the same script in the bench process; CPU per job: agent with its scripts + controller + redis-server (ours), bench process with its scripts (execa)`
          : undefined;
      rows.push(roundsRow(res, { bench: 'spawn-jobs', figure: `jobs spawning \`true\`, concurrency ${c}`, unit: 'jobs/s', key: 'rate', anchor: 'execa', anchorName: 'bare execa', target: 'ratio ≥ 0.9', ratioTarget: { op: '≥', value: 0.9 }, note }));
    }
    return rows;
  },
};
