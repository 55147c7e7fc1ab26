// The chaos suite's events: each one attacks an agent, a controller or Redis the way production fails
// (kill -9, SIGSTOP, restarts, a controller lost mid-claim or frozen) and notes what it did.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createKeys } from '../../controller/src/keys.js';
import type { ChaosSystem, ChaosSystemOptions } from './chaos-system.js';
import type { PlatformReply } from './chaos-run.js';
import { waitUntil } from './wait.js';

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
  /** Every job submitted so far. */
  jobIds: () => string[];
}

export function createChaosEvents(ctx: ChaosEventContext): Record<ChaosEventKind, () => Promise<void>> {
  const { sys, platform, note, pick, between, submitBatch } = ctx;
  const keys = createKeys('httpagent');
  /**
   * Resolves once every lease these agents could hold has run out by Redis's clock: each agent silent
   * (lastSeenAt) for longer than a lease, and each job running on one of them past its lease deadline
   * (a log append renews a lease without a heartbeat). A frozen agent or controller is then truly "past
   * its lease" however slow the machine is, instead of after a fixed time that may or may not be enough.
   */
  const pastLease = async (agentIds: string[]): Promise<void> => {
    const redis = sys.redisClient();
    redis.on('error', () => undefined);
    try {
      await waitUntil(
        `the leases of ${agentIds.join(', ')} to run out`,
        async () => {
          const [sec, usec] = await redis.time();
          const now = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
          const seen = await Promise.all(agentIds.map((id) => redis.hget(keys.agent(id), 'lastSeenAt')));
          if (seen.some((at) => now <= Number(at) + ctx.leaseMs)) return false;
          const jobs = ctx.jobIds();
          const views = await Promise.all(jobs.map((job) => redis.hmget(keys.job(job), 'state', 'agent')));
          const theirs = jobs.filter((_, i) => views[i]![0] === 'running' && agentIds.includes(String(views[i]![1])));
          const deadlines = await Promise.all(theirs.map((job) => redis.zscore(keys.leases, job)));
          return deadlines.every((d) => d === null || now > Number(d));
        },
        { timeoutMs: ctx.leaseMs * 4 + 30_000, intervalMs: 100 },
      );
    } finally {
      redis.disconnect();
    }
  };
  /** Results an agent finished while its controller was away, waiting in its state dir. */
  const spooledResults = (stateDir: string): number => {
    const root = join(stateDir, 'jobs');
    if (!existsSync(root)) return 0;
    return readdirSync(root).filter((d) => existsSync(join(root, d, 'result.json'))).length;
  };
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
      // How long the agent stays dead is part of the fault (seeded), not a wait for something.
      const down = between(300, 1500);
      note(`kill -9 ${a.id} (pid ${pid}, running ${running} jobs); down ${down} ms`);
      await sleep(down);
      const to = (a.controller + 1) % sys.controllers.length;
      await sys.startAgent(a.index, to);
      note(`${a.id} started again, same id and state dir, now on controller ${to}`);
    },
    'pause-agent': async () => {
      const { a, running } = await busiestAgent();
      sys.pauseAgent(a.index);
      const began = Date.now();
      note(`SIGSTOP ${a.id} (running ${running} jobs) until its leases run out (lease ${ctx.leaseMs} ms)`);
      await pastLease([a.id]);
      sys.resumeAgent(a.index);
      note(`SIGCONT ${a.id} after ${Date.now() - began} ms`);
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
      // The fault: a few ms after the batch, while claims are being handed out (seeded).
      const delay = between(0, 5);
      await sleep(delay);
      await sys.stopController(c.index, 'SIGKILL');
      note(`kill -9 controller ${c.index} mid-claim (${delay} ms after a batch of ${n} via controller ${other}; agents on it: ${sys.agents.filter((a) => a.controller === c.index).map((a) => a.id).join(', ')})`);
      await sleep(1000); // down for a second: the fault's length, not a wait for something
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
      // Until one of its running jobs has finished into its spool (none to wait for if it ran none).
      if (running > 0) await waitUntil(`a result spooled by ${a.id}`, () => spooledResults(a.stateDir) > 0, { timeoutMs: 60_000 });
      const spooled = spooledResults(a.stateDir);
      await sys.stopAgent(a.index, 'SIGKILL');
      note(`kill -9 ${a.id} while its controller is down (${spooled} results in its spool)`);
      await sys.startController(c.index);
      await sys.startAgent(a.index);
      note(`controller ${c.index} and ${a.id} started again (same state dir)`);
    },
    'freeze-controller': async () => {
      // A controller that stops answering without closing its sockets (a GC storm, a frozen VM, a
      // partition): its agents' calls hang instead of failing, their leases lapse and the other
      // controller's reaper re-delivers the jobs; on resume its queued requests must all be fenced.
      const c = pick(sys.controllers.filter((x) => sys.agents.some((a) => a.controller === x.index)));
      const victims = sys.agents.filter((a) => a.controller === c.index).map((a) => a.id);
      c.proc?.proc.kill('SIGSTOP');
      const began = Date.now();
      note(`SIGSTOP controller ${c.index} until the leases of its agents run out (agents on it: ${victims.join(', ')})`);
      await pastLease(victims);
      c.proc?.proc.kill('SIGCONT');
      note(`SIGCONT controller ${c.index} after ${Date.now() - began} ms`);
    },
  };
}
