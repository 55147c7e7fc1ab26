// Figure: a fleet on one machine moves to a new release bundle through the controller's release channel.
// N real agents (50; BENCH_FLEET_AGENTS to change it, quick: 10), each in its own install prefix
// (releases/ hard-linked from one release of this run's dist), each under a restart loop standing in for
// supervisord (start `current` again when the agent exits), updateSource bundle polling every 5 s. Jobs
// keep arriving for every agent; one signed bundle is PUT; the clock runs until every agent's guard has
// confirmed the new commit. Figures: seconds to the whole fleet, requests to the npm registry (a counting
// HTTP server stands in for it: any request counts), jobs not succeeded. Measured in one run; if the
// machine cannot finish in the bound, the row says how many agents got there.
// Each agent's stdout/stderr is kept in <prefix>/agent.log (a line per start), the controller's in
// controller.log; BENCH_KEEP=1 keeps the temp dir when a target is missed (its path is printed), and
// BENCH_FLEET_LOG_LEVEL sets the agents' log level (default warn, as the figure has always run).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { availableParallelism, loadavg, setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { packBundle } from '../../src/ops/bundle-pack.js';
import { releaseLayout, switchCurrent } from '../../src/ops/release-layout.js';
import { readRunningAgent } from '../../src/ops/running-agent.js';
import { readUpdateState, updateStatePath } from '../../src/ops/update-state.js';
import { newSigningKey, writeAllowedSigners } from '../../test/helpers/bundles.js';
import { freePort } from '../../test/helpers/ports.js';
import { quickRelease } from '../../test/helpers/quick-release.js';
import { machineBusySeconds } from '../lib/cpu-time.js';
import { benchTasksDir, sleep, type Figure } from '../lib/figure.js';
import type { Row } from '../lib/report.js';
import { platformClient } from '../lib/proto-client.js';
import { ENROLL_TOKEN, PLATFORM_TOKEN, startController, withRedis } from '../lib/system.js';

const run = promisify(execFile);
const A = 'a1'.repeat(20);
const B = 'b2'.repeat(20);
const BOUND_MS = 120_000;
/** How long the steady load is measured before the PUT. */
const STEADY_MS = 15_000;
const SPLAY_SEC = Number(process.env.BENCH_FLEET_SPLAY_SEC ?? 30);
/**
 * The agents' nice value. On a real fleet each agent has its host to itself and the controller its own;
 * here N agents share the controller's cores, and at nice 0 the controller got 1/N+1 of them (at 50 agents
 * its replies took longer than the agents' heartbeat and download timeouts, so leases lapsed and downloads
 * of the same bundle took minutes). Niced, the agents still compete among themselves, as the figure asks.
 */
const AGENT_NICE = Number(process.env.BENCH_FLEET_AGENT_NICE ?? 10);
/** The rollout's maxInFlight: how many agents move at a time (0: all at once). */
const MAX_IN_FLIGHT = Number(process.env.BENCH_FLEET_MAX_IN_FLIGHT ?? 0);

interface FleetAgent {
  id: string;
  prefix: string;
  stateDir: string;
  config: string;
  proc?: ChildProcess;
  restarts: number;
  /** How each run of it ended (exit code or signal), in order: a start loop shows here. */
  exits: string[];
  /** ms from the start wave's beginning to this agent's first `up` (running.json of its live pid). */
  upMs?: number;
}

export const bundleFleet: Figure = {
  name: 'bundle-fleet',
  async run(ctx) {
    const n = ctx.quick ? 10 : Number(process.env.BENCH_FLEET_AGENTS ?? 50);
    const dir = mkdtempSync(join(tmpdir(), 'httpagent-bench-fleet-'));
    let registryHits = 0;
    const registry = createServer((_req, res) => {
      registryHits++;
      res.writeHead(503).end();
    });
    await new Promise<void>((r) => registry.listen(0, '127.0.0.1', () => r()));
    const registryUrl = `http://127.0.0.1:${(registry.address() as { port: number }).port}/`;
    const agents: FleetAgent[] = [];
    let stopping = false;
    let keep = false; // BENCH_KEEP=1 and a target missed (or the figure threw): the dir stays for reading
    const logLevel = process.env.BENCH_FLEET_LOG_LEVEL ?? 'warn';
    let controllerOutput = (): string => '';
    try {
      return await withRedis(async (redis) => {
        const controller = await startController(redis.url, { HTTPAGENT_RELEASE_DIR: join(dir, 'controller-releases'), HTTPAGENT_LOG_LEVEL: 'warn' });
        controllerOutput = () => controller.proc.output();
        const platform = platformClient(controller.url, 4);
        const key = await newSigningKey(dir, 'release-key');
        const signers = writeAllowedSigners(join(dir, 'allowed_signers'), [key]);
        const base = await quickRelease(join(dir, 'base', A.slice(0, 12)), A);
        const tree = await quickRelease(join(dir, 'tree'), B);
        const packed = await packBundle({ releaseDir: tree, outDir: join(dir, 'bundles'), signingKey: key.key });
        const bundleBytes = readFileSync(packed.file);
        ctx.log(`bundle ${packed.file} (${(bundleBytes.length / 1024 / 1024).toFixed(1)} MiB, ${packed.manifest.files.length} entries)`);

        for (let i = 0; i < n; i++) {
          const id = `fleet-${i}`;
          const prefix = join(dir, id);
          mkdirSync(join(prefix, 'releases'), { recursive: true });
          // Hard links: N prefixes of release A for the disk space of one.
          await run('cp', ['-al', base, join(prefix, 'releases', A.slice(0, 12))]);
          switchCurrent(releaseLayout(prefix), join(prefix, 'releases', A.slice(0, 12)));
          const stateDir = join(prefix, 'state');
          const config = join(prefix, 'agent.json');
          writeFileSync(join(prefix, 'enroll-token'), ENROLL_TOKEN, { mode: 0o600 });
          writeFileSync(
            config,
            JSON.stringify({
              agentId: id,
              controllerUrl: controller.url,
              enrollTokenFile: join(prefix, 'enroll-token'),
              listen: `127.0.0.1:${await freePort()}`,
              stateDir,
              tasksDir: benchTasksDir,
              ...(process.getuid?.() === 0 ? { taskUser: 'nobody' } : {}),
              concurrency: 2,
              drainGraceSec: 30,
              logLevel,
              updateSource: 'bundle',
              updateAllowedSigners: signers,
              updateCron: '*/5 * * * * *',
              // As a fleet would: each agent asks at its own moment, so downloads and unpacks do not all
              // land in the same second (the default spreads over 30 s; the bound is 2 minutes).
              updateSplaySec: SPLAY_SEC,
              updateDeadlineSec: 300,
              updatePrefix: prefix,
            }),
            { mode: 0o600 },
          );
          agents.push({ id, prefix, stateDir, config, restarts: 0, exits: [] });
        }

        // The restart loop supervisord would be: an agent that exits is started again from `current`.
        const supervise = (a: FleetAgent): void => {
          if (stopping) return;
          // Kept, not discarded: why an agent restarts or never comes up is in its own lines.
          const logFile = join(a.prefix, 'agent.log');
          appendFileSync(logFile, `--- bench: start ${a.restarts + 1} at ${new Date().toISOString()}\n`);
          const out = openSync(logFile, 'a');
          let child: ChildProcess;
          try {
            child = spawn(process.execPath, [join(a.prefix, 'current', 'dist', 'src', 'bin', 'httpagent.js'), 'agent', '--config', a.config], {
              env: { PATH: process.env.PATH ?? '', HOME: a.prefix, npm_config_registry: registryUrl, npm_config_update_notifier: 'false' },
              stdio: ['ignore', out, out],
            });
          } finally {
            closeSync(out); // the child holds its own copy
          }
          a.proc = child;
          // Inherited by what the agent starts (its self-test, guard and tasks), as on a host of its own.
          if (child.pid !== undefined && AGENT_NICE !== 0) {
            try {
              setPriority(child.pid, AGENT_NICE);
            } catch {
              // gone already: its exit starts it again
            }
          }
          child.once('exit', (code, signal) => {
            a.exits.push(String(code ?? signal));
            if (stopping) return;
            a.restarts++;
            setTimeout(() => supervise(a), 500);
          });
        };
        const healthy = async (a: FleetAgent): Promise<boolean> => {
          const running = readRunningAgent(a.stateDir);
          return running !== undefined && running.commit !== null && running.pid === a.proc?.pid;
        };
        const t0 = Date.now();
        // A start wave the machine can take: at most one agent starting per core. Started 200 ms apart
        // regardless, 50 agents each needing a few CPU seconds to load ran 50 at once on 2 cores (load 50)
        // and none was up for a minute.
        const window = Math.max(1, availableParallelism());
        for (const a of agents) {
          const waitUntil = Date.now() + 20_000; // an agent that does not come up must not stall the wave
          for (;;) {
            const starting = agents.filter((b) => b.proc !== undefined && b.upMs === undefined);
            for (const b of starting) if (await healthy(b)) b.upMs = Date.now() - t0;
            if (starting.filter((b) => b.upMs === undefined).length < window || Date.now() > waitUntil) break;
            await sleep(100);
          }
          supervise(a);
          await sleep(200);
        }
        const startDeadline = Date.now() + 300_000;
        let up = await Promise.all(agents.map(healthy));
        let said = Date.now();
        while (!up.every(Boolean) && Date.now() < startDeadline) {
          await sleep(500);
          up = await Promise.all(agents.map(healthy));
          agents.forEach((a, i) => {
            if (up[i] && a.upMs === undefined) a.upMs = Date.now() - t0;
          });
          if (Date.now() - said >= 15_000) {
            said = Date.now();
            const restarted = agents.filter((a) => a.restarts > 0).length;
            ctx.log(`starting: ${up.filter(Boolean).length}/${n} up after ${((Date.now() - t0) / 1000).toFixed(0)} s, ${restarted} restarted at least once (load ${loadavg()[0]!.toFixed(1)})`);
          }
        }
        // A machine that cannot start them all in 5 minutes is measured with the ones it started, and says so.
        const late = agents.filter((_, i) => !up[i]);
        const startExits = agents.filter((a) => a.exits.length > 0).map((a) => `${a.id}: ${a.exits.join(',')}`);
        if (startExits.length > 0) ctx.log(`agents that exited while the fleet started (exit codes; see <prefix>/agent.log): ${startExits.join('; ')}`);
        for (const a of late) {
          agents.splice(agents.indexOf(a), 1);
          a.restarts = -1;
          a.proc?.removeAllListeners('exit');
          a.proc?.kill('SIGKILL');
        }
        const fleet = agents.length;
        ctx.log(`${fleet}/${n} agents up on release A in ${((Date.now() - t0) / 1000).toFixed(1)} s (load ${loadavg()[0]!.toFixed(1)})${late.length ? `; ${late.length} not up within 5 minutes, left out of the figure` : ''}`);

        // Work for every agent through the update: a 1 s job per agent every ~4 s.
        const ids: string[] = [];
        let feeding = true;
        const feeder = (async () => {
          while (feeding) {
            const reply = (await platform.submit(agents.map((a) => ({ task: 'sleep', params: { sec: '1' }, agent: a.id })))) as Array<{ id: string }>;
            ids.push(...reply.map((r) => r.id));
            await sleep(4000);
          }
        })();

        // The steady load (jobs, heartbeats, polls) measured before the PUT, so the rollout's own CPU can
        // be told apart from it: machine-wide, as a move spans the agent, its self-test, guard and successor.
        await sleep(5_000);
        const steadyFrom = { at: Date.now(), busy: await machineBusySeconds() };
        await sleep(STEADY_MS);
        const steadyCores = (await machineBusySeconds() - steadyFrom.busy) / ((Date.now() - steadyFrom.at) / 1000);
        const putBusy = await machineBusySeconds();
        const putAt = Date.now();
        const res = await request(`${controller.url}/v1/releases/${packed.manifest.version}-${B.slice(0, 12)}?maxInFlight=${MAX_IN_FLIGHT}`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${PLATFORM_TOKEN}`, 'content-type': 'application/gzip' },
          body: bundleBytes,
        });
        if (res.statusCode !== 201) throw new Error(`PUT answered ${res.statusCode}: ${await res.body.text()}`);
        await res.body.dump();
        const movedAt = new Map<string, number>();
        const hardStop = putAt + 2.5 * BOUND_MS; // past the bound only to say how far the machine got
        while (movedAt.size < fleet && Date.now() < hardStop) {
          for (const a of agents) if (!movedAt.has(a.id) && readUpdateState(updateStatePath(a.stateDir)).confirmed === B) movedAt.set(a.id, Date.now() - putAt);
          await sleep(250);
        }
        const moveSec = (Date.now() - putAt) / 1000;
        const moveBusy = (await machineBusySeconds()) - putBusy;
        // What the rollout cost beyond the steady load, per agent that moved (null when none did).
        const cpuPerMove = movedAt.size > 0 ? Math.max(0, moveBusy - steadyCores * moveSec) / movedAt.size : null;
        ctx.log(`CPU: steady load ${steadyCores.toFixed(2)} cores before the PUT; the rollout window used ${(moveBusy / moveSec).toFixed(2)} cores over ${moveSec.toFixed(0)} s${cpuPerMove === null ? '' : `, ${cpuPerMove.toFixed(2)} CPU s per agent moved beyond the steady load`}`);
        feeding = false;
        await feeder.catch(() => undefined);
        const times = [...movedAt.values()].sort((x, y) => x - y);
        const allMs = movedAt.size === fleet ? times[times.length - 1]! : null;
        const inBound = times.filter((t) => t <= BOUND_MS).length;
        ctx.log(`${movedAt.size}/${fleet} agents confirmed on the new bundle; ${inBound} within 2 minutes; last at ${allMs === null ? 'never (stopped waiting)' : `${(allMs / 1000).toFixed(1)} s`}`);

        // Every job submitted must end succeeded: none lost or failed by the switch.
        const finalDeadline = Date.now() + 180_000;
        let states: string[] = [];
        for (;;) {
          // A controller too busy to answer is read again, not the end of the figure.
          states = await Promise.all(ids.map(async (id) => String((await platform.job(id).catch(() => ({ state: 'unread' }))).state)));
          if (states.every((s) => ['succeeded', 'failed', 'cancelled'].includes(s)) || Date.now() > finalDeadline) break;
          await sleep(1000);
        }
        const notSucceeded = states.filter((s) => s !== 'succeeded').length;
        // What the jobs that did not succeed say: state, error, attempt, agent, and when they were queued
        // relative to the PUT, grouped so a cause shows as one line.
        const why = new Map<string, { count: number; agents: Set<string>; sample: string }>();
        for (let i = 0; i < ids.length; i++) {
          if (states[i] === 'succeeded') continue;
          const j = await platform.job(ids[i]!).catch((err: unknown) => ({ state: 'unread', attempt: '?', error: String(err), agent: null, target: {} }) as Record<string, unknown>);
          const k = `${String(j.state)} attempt ${String(j.attempt)}: ${String(j.error ?? (j.waiting as { code?: string } | undefined)?.code ?? 'no error')}`;
          const e = why.get(k) ?? { count: 0, agents: new Set<string>(), sample: ids[i]! };
          e.count++;
          e.agents.add(String(j.agent ?? (j.target as { agent?: string }).agent));
          why.set(k, e);
        }
        for (const [k, e] of why) ctx.log(`  ${e.count} × ${k} (agents ${[...e.agents].sort().join(',')}; e.g. job ${e.sample})`);
        // Failed and unfinished read differently: an overloaded machine leaves jobs queued at the deadline.
        const byState: Record<string, number> = {};
        for (const st of states) byState[st] = (byState[st] ?? 0) + 1;
        ctx.log(`jobs by state: ${JSON.stringify(byState)}`);
        ctx.detail('fleet', { agents: n, steadyCores, cpuPerMove, started: fleet, movedMs: times, upMs: agents.map((a) => a.upMs ?? null), restarts: agents.map((a) => a.restarts), exits: Object.fromEntries(agents.map((a) => [a.id, a.exits])), jobs: ids.length, notSucceeded, byState, notSucceededWhy: Object.fromEntries([...why].map(([k, e]) => [k, { count: e.count, agents: [...e.agents], sample: e.sample }])), registryHits, bundleBytes: bundleBytes.length, load: loadavg() });
        await platform.close();
        const note = `${fleet} agents${fleet < n ? ` (of ${n} asked; the rest did not start within 5 minutes)` : ''} on one machine (load ${loadavg()[0]!.toFixed(1)}), one signed ${(bundleBytes.length / 1024 / 1024).toFixed(0)} MiB bundle PUT to the channel, agents asking every 5 s after a splay of up to ${SPLAY_SEC} s, ${MAX_IN_FLIGHT > 0 ? `at most ${MAX_IN_FLIGHT} moving at a time` : 'all free to move at once'}; clock: PUT → each guard confirmed the new commit; ${ids.length} jobs flowing (1 s each)`;
        const whole = allMs === null ? `${movedAt.size}/${fleet} moved; the rest did not finish` : '';
        const rows: Row[] = [
          { bench: 'bundle-fleet', figure: `${fleet} agents moved to a new bundle`, unit: 's', ours: allMs === null ? null : allMs / 1000, anchor: null, anchorName: null, target: '≤ 120 s', met: allMs !== null && allMs <= BOUND_MS, note: whole ? `${note}; ${whole}` : note },
          { bench: 'bundle-fleet', figure: 'agents on the new bundle within 2 min', unit: 'agents', ours: inBound, anchor: null, anchorName: null, target: `= ${n}`, met: inBound === n },
          { bench: 'bundle-fleet', figure: 'CPU per agent moved, beyond the steady load', unit: 's', ours: cpuPerMove === null ? null : Number(cpuPerMove.toFixed(2)), anchor: null, anchorName: null, target: 'report', met: null, note: `machine-wide (/proc/stat); steady load ${steadyCores.toFixed(2)} of ${availableParallelism()} cores before the PUT` },
          { bench: 'bundle-fleet', figure: 'npm registry requests during the rollout', unit: 'requests', ours: registryHits, anchor: null, anchorName: null, target: '= 0', met: registryHits === 0 },
          { bench: 'bundle-fleet', figure: 'jobs lost or failed through the rollout', unit: 'jobs', ours: notSucceeded, anchor: null, anchorName: null, target: '= 0', met: notSucceeded === 0, note: `by state at the end: ${Object.entries(byState).map(([k, v]) => `${k} ${v}`).join(', ')}` },
        ];
        keep = process.env.BENCH_KEEP === '1' && rows.some((r) => r.met === false);
        return rows;
      });
    } catch (err) {
      keep = process.env.BENCH_KEEP === '1';
      throw err;
    } finally {
      stopping = true;
      await Promise.all(
        agents.map(
          (a) =>
            new Promise<void>((resolve) => {
              const p = a.proc;
              if (!p || p.exitCode !== null || p.signalCode !== null) return resolve();
              const kill = setTimeout(() => p.kill('SIGKILL'), 40_000);
              p.once('exit', () => {
                clearTimeout(kill);
                resolve();
              });
              p.kill('SIGTERM');
            }),
        ),
      );
      await new Promise((r) => registry.close(r));
      if (keep) {
        writeFileSync(join(dir, 'controller.log'), controllerOutput());
        ctx.log(`BENCH_KEEP=1: kept ${dir} (each agent's log in fleet-N/agent.log, its guard's in fleet-N/state/update/guard.log, the controller's in controller.log)`);
      } else rmSync(dir, { recursive: true, force: true });
    }
  },
};
