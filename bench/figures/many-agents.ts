// Figure 6: 10,000 simulated agents long-polling one controller process (quick: 2,000). Each holds a
// claim open on its own socket (opened with undici from the bench process); a claim that answers is
// completed and re-opened, as an agent does. Figures: Redis connections the controller uses (CLIENT
// LIST on the private Redis), controller RSS, and pickup latency while they all wait.
import { getrlimit } from '../lib/rlimit.js';
import { sleep, until, type Figure } from '../lib/figure.js';
import { platformClient, protoClient } from '../lib/proto-client.js';
import { now, summarize } from '../lib/stats.js';
import { peakRssMb, rssMb, startController, withRedis } from '../lib/system.js';

export const manyAgents: Figure = {
  name: 'many-agents',
  async run(ctx) {
    const agents = ctx.quick ? 2000 : 10_000;
    const samples = ctx.quick ? 50 : 200;
    const nofile = getrlimit();
    // The bench process and the controller each hold one socket per waiting agent.
    if (nofile !== null && nofile < agents + 1000) ctx.log(`ulimit -n is ${nofile}: too low for ${agents} sockets; raise it (ulimit -n 65536) or expect connect errors`);
    return withRedis(async (redis) => {
      const controller = await startController(redis.url, { HTTPAGENT_LOG_LEVEL: 'error' });
      const proto = protoClient(controller.url, agents + 16);
      const platform = platformClient(controller.url, 2);
      const admin = redis.client();
      let running = true;
      let inFlight = 0;
      let seen: ((t: number) => void) | undefined;
      const loops: Promise<void>[] = [];
      try {
        const t0 = now();
        for (let i = 0; i < agents; i += 200) {
          await Promise.all(Array.from({ length: Math.min(200, agents - i) }, (_, k) => proto.register(`sim-${i + k}`, 1)));
        }
        ctx.log(`registered ${agents} agents in ${((now() - t0) / 1000).toFixed(1)} s`);
        const agentLoop = async (id: string): Promise<void> => {
          while (running) {
            inFlight++;
            let jobs;
            try {
              jobs = await proto.claim(id, 1, 30_000);
            } catch {
              if (!running) return;
              await sleep(100);
              continue;
            } finally {
              inFlight--;
            }
            for (const job of jobs) {
              seen?.(now());
              await proto.complete(id, job, 0).catch(() => undefined);
            }
          }
        };
        // Opened in waves so the controller's accept backlog is not flooded.
        for (let i = 0; i < agents; i++) {
          loops.push(agentLoop(`sim-${i}`));
          if (i % 250 === 249) await sleep(30);
        }
        await until('every long-poll to be parked', async () => (inFlight >= agents ? true : undefined), 60_000, 50);
        await sleep(1000); // the last claims' first tries have run; all are parked
        const out: number[] = [];
        for (let i = 0; i < samples + 5; i++) {
          const arrived = new Promise<number>((r) => (seen = r));
          const s0 = now();
          await platform.submit({ task: 'true' });
          const t = await arrived;
          if (i >= 5) out.push(t - s0);
          await sleep(10);
        }
        const pick = summarize(out);
        const list = String(await admin.call('CLIENT', 'LIST'));
        const controllerConns = list.split('\n').filter((l) => /name=httpagent-controller/.test(l)).length;
        const allConns = list.split('\n').filter((l) => l.trim()).length - 1; // minus this admin connection
        const rss = await rssMb(controller.proc.proc.pid!);
        const peak = await peakRssMb(controller.proc.proc.pid!);
        ctx.detail('pickup', pick);
        ctx.detail('redisConnections', { controller: controllerConns, allButAdmin: allConns });
        ctx.detail('nofile', nofile);
        const note = `${agents} agents registered, each long-polling on its own socket (30 s wait, re-opened when answered); pickup: POST /v1/jobs → claim reply at the agent woken (${samples} samples)`;
        return [
          { bench: 'many-agents', figure: `${agents} waiting agents: controller Redis connections`, unit: 'conns', ours: controllerConns, anchor: null, anchorName: null, target: '≤ 4', met: controllerConns <= 4, note },
          { bench: 'many-agents', figure: `${agents} waiting agents: controller RSS`, unit: 'MB', ours: rss, anchor: null, anchorName: null, target: '≤ 300 MB', met: rss <= 300 },
          { bench: 'many-agents', figure: `${agents} waiting agents: controller peak RSS (VmHWM)`, unit: 'MB', ours: peak, anchor: null, anchorName: null, target: 'report', met: null },
          { bench: 'many-agents', figure: `${agents} waiting agents: pickup median`, unit: 'ms', ours: pick.median, anchor: null, anchorName: null, target: '≤ 10 ms', met: pick.median <= 10 },
          { bench: 'many-agents', figure: `${agents} waiting agents: pickup p99`, unit: 'ms', ours: pick.p99, anchor: null, anchorName: null, target: 'report', met: null },
        ];
      } finally {
        running = false;
        await controller.proc.kill('SIGKILL');
        await proto.close().catch(() => undefined);
        await platform.close().catch(() => undefined);
        await Promise.race([Promise.allSettled(loops), sleep(5000)]);
        admin.disconnect();
      }
    });
  },
};
