// The chaos suite's events: each one attacks an agent, a controller or Redis the way production fails
// (kill -9, SIGSTOP, restarts, a controller lost mid-claim or frozen) and notes what it did.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChaosSystem, ChaosSystemOptions } from './chaos-system.js';
import type { PlatformReply } from './chaos-run.js';

export type ChaosEventKind =
  | 'kill-agent'
  | 'pause-agent'
  | 'restart-controller'
  | 'restart-redis'
  | 'cut-controller'
  | 'strand-results'
  | 'freeze-controller';

export interface ChaosEventContext {
  sys: ChaosSystem;
  platform: (controller: number, method: string, path: string, body?: unknown) => Promise<PlatformReply>;
  note: (line: string) => void;
  /** Seeded choices, so a run's events are reproducible from its seed. */
  pick: <T>(xs: T[]) => T;
  between: (lo: number, hi: number) => number;
  /** Submits the next batch of the plan through a controller; resolves with how many jobs it held. */
  submitBatch: (via: number) => Promise<number>;
  leaseMs: number;
  redisStop: ChaosSystemOptions['redisStop'];
}

export function createChaosEvents(ctx: ChaosEventContext): Record<ChaosEventKind, () => Promise<void>> {
  const { sys, platform, note, pick, between, submitBatch } = ctx;
  const aliveAgents = () => sys.agents.filter((a) => a.proc && a.proc.proc.exitCode === null && a.proc.proc.signalCode === null);
  /** The live agent running the most jobs (per GET /v1/agents), so killing or pausing it costs something. */
  const busiestAgent = async () => {
    const running = new Map<string, number>();
    for (const c of sys.controllers) {
      const r = await platform(c.index, 'GET', '/v1/agents').catch(() => undefined);
      if (r?.status !== 200 || !Array.isArray(r.json)) continue;
      for (const a of r.json as { id: string; running: number }[]) running.set(a.id, a.running);
      break;
    }
    const alive = aliveAgents();
    const best = Math.max(...alive.map((a) => running.get(a.id) ?? 0));
    const a = pick(alive.filter((x) => (running.get(x.id) ?? 0) === best));
    return { a, running: running.get(a.id) ?? 0 };
  };
  return {
    'kill-agent': async () => {
      const { a, running } = await busiestAgent();
      const pid = a.proc!.proc.pid;
      await sys.stopAgent(a.index, 'SIGKILL');
      const down = between(300, 1500);
      note(`kill -9 ${a.id} (pid ${pid}, running ${running} jobs); down ${down} ms`);
      await sleep(down);
      const to = (a.controller + 1) % sys.controllers.length;
      await sys.startAgent(a.index, to);
      note(`${a.id} started again, same id and state dir, now on controller ${to}`);
    },
    'pause-agent': async () => {
      const { a, running } = await busiestAgent();
      const ms = ctx.leaseMs + 1500;
      sys.pauseAgent(a.index);
      note(`SIGSTOP ${a.id} (running ${running} jobs) for ${ms} ms (lease ${ctx.leaseMs} ms)`);
      await sleep(ms);
      sys.resumeAgent(a.index);
      note(`SIGCONT ${a.id}`);
    },
    'restart-controller': async () => {
      const c = pick(sys.controllers);
      const began = Date.now();
      await sys.stopController(c.index, 'SIGTERM');
      await sys.startController(c.index);
      note(`restarted controller ${c.index} (SIGTERM, start; ${Date.now() - began} ms)`);
    },
    'restart-redis': async () => {
      const began = Date.now();
      await sys.restartRedis();
      note(`restarted Redis (${ctx.redisStop === 'kill' ? 'SIGKILL, appendfsync always' : 'SIGTERM: clean shutdown, AOF flushed'}; ${Date.now() - began} ms)`);
    },
    'cut-controller': async () => {
      // Agents long-poll on the victim; a batch through the other controller wakes their claims, and the
      // victim dies a few ms later: some claims ran in Redis but their replies never left.
      const victims = sys.controllers.filter((c) => sys.agents.some((a) => a.controller === c.index));
      const c = pick(victims);
      const other = (c.index + 1) % sys.controllers.length;
      // The batch is in Redis once its reply is back, and its wake-up already on the way to the victim.
      const n = await submitBatch(other);
      const delay = between(0, 5);
      await sleep(delay);
      await sys.stopController(c.index, 'SIGKILL');
      note(`kill -9 controller ${c.index} mid-claim (${delay} ms after a batch of ${n} via controller ${other}; agents on it: ${sys.agents.filter((a) => a.controller === c.index).map((a) => a.id).join(', ')})`);
      await sleep(1000);
      await sys.startController(c.index);
      note(`controller ${c.index} started again`);
    },
    'strand-results': async () => {
      // Results finished while the controller is away stay in the agent's spool; the agent then dies
      // too, and must deliver them (or learn they are stale) from its state dir after the restart.
      const { a, running } = await busiestAgent();
      const c = sys.controllers[a.controller]!;
      await sys.stopController(c.index, 'SIGKILL');
      note(`kill -9 controller ${c.index} (agents on it: ${aliveAgents().filter((x) => x.controller === c.index).map((x) => x.id).join(', ')}; ${a.id} running ${running} jobs)`);
      await sleep(1500);
      await sys.stopAgent(a.index, 'SIGKILL');
      note(`kill -9 ${a.id} while its controller is down`);
      await sys.startController(c.index);
      await sys.startAgent(a.index);
      note(`controller ${c.index} and ${a.id} started again (same state dir)`);
    },
    'freeze-controller': async () => {
      // A controller that stops answering without closing its sockets (a GC storm, a frozen VM, a
      // partition): its agents' calls hang instead of failing, their leases lapse and the other
      // controller's reaper re-delivers the jobs; on resume its queued requests must all be fenced.
      const c = pick(sys.controllers.filter((x) => sys.agents.some((a) => a.controller === x.index)));
      const ms = ctx.leaseMs + 2000;
      c.proc?.proc.kill('SIGSTOP');
      note(`SIGSTOP controller ${c.index} for ${ms} ms (agents on it: ${sys.agents.filter((a) => a.controller === c.index).map((a) => a.id).join(', ')})`);
      await sleep(ms);
      c.proc?.proc.kill('SIGCONT');
      note(`SIGCONT controller ${c.index}`);
    },
  };
}
