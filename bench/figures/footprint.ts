// Figure 8: footprint. An idle `httpagent agent` (registered, long-polling a controller) and an idle
// `httpagent monitor` (10 s sampling, reporting to that controller), both from dist/: RSS at the end and
// CPU over a minute (quick: 10 s), after start-up has settled.
import { benchTasksDir, sleep, until, type Figure } from '../lib/figure.js';
import { summarize } from '../lib/stats.js';
import { platformClient } from '../lib/proto-client.js';
import { cpuSeconds, rssMb, spawnDist, startAgent, startController, withRedis, stop } from '../lib/system.js';

export const footprint: Figure = {
  name: 'footprint',
  async run(ctx) {
    const windowSec = ctx.quick ? 10 : 60;
    return withRedis(async (redis) => {
      const controller = await startController(redis.url, { HTTPAGENT_LOG_LEVEL: 'error' });
      const platform = platformClient(controller.url, 1);
      const agent = await startAgent(controller.url, 'idle-agent', { HTTPAGENT_TASKS_DIR: benchTasksDir, HTTPAGENT_LOG_LEVEL: 'error' });
      const monitor = spawnDist(['monitor'], {
        HTTPAGENT_AGENT_ID: 'idle-agent',
        HTTPAGENT_CONTROLLER_URL: controller.url,
        HTTPAGENT_LISTEN: `127.0.0.1:${agent.port}`,
        HTTPAGENT_STATE_DIR: agent.stateDir,
        HTTPAGENT_METRICS_INTERVAL_SEC: '10',
        HTTPAGENT_CHECK_INTERVAL_SEC: '10',
        HTTPAGENT_LOG_LEVEL: 'error',
      });
      try {
        await until('the agent to register', async () => (String((await platform.get('/v1/agents')).body).includes('"idle-agent"') ? true : undefined));
        await sleep(ctx.quick ? 5000 : 15_000); // past start-up: module loading, first rounds, the first major GC
        const pids = { agent: agent.proc.proc.pid!, monitor: monitor.proc.pid! };
        if (monitor.proc.exitCode !== null) throw new Error(`monitor exited: ${monitor.output().slice(-2000)}`);
        const before = { agent: await cpuSeconds(pids.agent), monitor: await cpuSeconds(pids.monitor) };
        const t0 = Date.now();
        // RSS sampled through the window: the figure is its highest value, the median goes in the note.
        const samples = { agent: [] as number[], monitor: [] as number[] };
        const every = ctx.quick ? 1000 : 5000;
        while (Date.now() - t0 < windowSec * 1000) {
          await sleep(every);
          samples.agent.push(await rssMb(pids.agent));
          samples.monitor.push(await rssMb(pids.monitor));
        }
        const secs = (Date.now() - t0) / 1000;
        const cpu = {
          agent: (100 * ((await cpuSeconds(pids.agent)) - before.agent)) / secs,
          monitor: (100 * ((await cpuSeconds(pids.monitor)) - before.monitor)) / secs,
        };
        const agentRss = summarize(samples.agent);
        const monitorRss = summarize(samples.monitor);
        const rss = { agent: agentRss.max, monitor: monitorRss.max };
        ctx.detail('idle', { windowSec: secs, cpuPercent: cpu, rssMb: { agent: agentRss, monitor: monitorRss } });
        const note = `over ${windowSec} s after start-up${ctx.quick ? ' (quick: only 5 s after start-up, before the first major GC settles RSS; the full run is the figure)' : ''}; RSS sampled every ${every / 1000} s, highest shown (median: agent ${agentRss.median.toFixed(1)} MB, monitor ${monitorRss.median.toFixed(1)} MB); CPU from /proc/<pid>/stat (10 ms ticks, so a short window is coarse); the agent long-polls with the default 10 s claim wait, the monitor samples and checks every 10 s`;
        return [
          { bench: 'footprint', figure: 'idle agent RSS (max)', unit: 'MB', ours: rss.agent, anchor: null, anchorName: null, target: 'report', met: null, note },
          { bench: 'footprint', figure: 'idle agent CPU', unit: '%', ours: cpu.agent, anchor: null, anchorName: null, target: 'report', met: null },
          { bench: 'footprint', figure: 'idle monitor RSS (max)', unit: 'MB', ours: rss.monitor, anchor: null, anchorName: null, target: '≤ 60 MB', met: rss.monitor <= 60 },
          { bench: 'footprint', figure: 'idle monitor CPU (10 s interval)', unit: '%', ours: cpu.monitor, anchor: null, anchorName: null, target: '≤ 0.5 %', met: cpu.monitor <= 0.5 },
        ];
      } finally {
        await platform.close();
        await stop(monitor);
        await stop(agent.proc);
        await stop(controller.proc);
      }
    });
  },
};
