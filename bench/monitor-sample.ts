// Figures for the monitor: CPU of one full host sample (ours from /proc vs systeminformation collecting
// the same figures), and an idle `httpagent monitor` process's RSS and CPU at a 10 s interval.
// Run: node --import tsx bench/monitor-sample.ts   (BENCH_IDLE_SEC=60 sets the idle window)
// The idle process runs compiled JavaScript (tsc into node_modules/.cache), as production runs dist/:
// through tsx it would carry the TypeScript loader's ~20 MB.
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import si from 'systeminformation';
import { createHostSampler } from '../src/monitor/collectors/host-sampler.js';
import { freePort } from '../test/helpers/ports.js';
import { repoRoot, track } from '../test/helpers/processes.js';

const TICK_MS = 10; // USER_HZ is 100 on Linux: /proc/*/stat times are in 10 ms ticks

/** utime+stime of a process and cutime+cstime of its waited-for children, in ms. */
function procTimes(pid: number | 'self'): { own: number; children: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  // after the command name: state is f[0], utime f[11], stime f[12], cutime f[13], cstime f[14]
  return { own: (f[11]! + f[12]!) * TICK_MS, children: (f[13]! + f[14]!) * TICK_MS };
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const ms = (n: number) => n.toFixed(3);

async function measure(name: string, rounds: number, fn: () => Promise<unknown>) {
  await fn(); // warm-up: first-call costs (module init, first /proc read) are not the steady state
  const c0 = process.cpuUsage();
  const p0 = procTimes('self');
  const t0 = performance.now();
  for (let i = 0; i < rounds; i++) await fn();
  const wall = (performance.now() - t0) / rounds;
  const cpu = process.cpuUsage(c0);
  const p1 = procTimes('self');
  return {
    name,
    rounds,
    wallMs: wall,
    cpuMs: (cpu.user + cpu.system) / 1000 / rounds,
    childCpuMs: (p1.children - p0.children) / rounds,
  };
}

function compile(): string {
  const out = join(repoRoot, 'node_modules/.cache/monitor-bench');
  try {
    execFileSync(process.execPath, [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', repoRoot, '--outDir', out], { stdio: 'ignore' });
  } catch {
    // type errors elsewhere in the tree still emit JavaScript; a missing file below is the real failure
  }
  return join(out, 'src/bin/httpagent.js');
}

async function idleMonitor(seconds: number) {
  const [closed, agentPort] = [await freePort(), await freePort()];
  const bin = compile();
  const stateDir = `/tmp/httpagent-bench-monitor-${process.pid}`;
  const env = {
    PATH: process.env.PATH ?? '',
    HTTPAGENT_AGENT_TOKEN: 'bench-agent-token-0123456789',
    HTTPAGENT_CONTROLLER_URL: `http://127.0.0.1:${closed}`,
    HTTPAGENT_LISTEN: `127.0.0.1:${agentPort}`,
    HTTPAGENT_STATE_DIR: stateDir,
    HTTPAGENT_METRICS_INTERVAL_SEC: '10',
    HTTPAGENT_CHECK_INTERVAL_SEC: '10',
    HTTPAGENT_LOG_LEVEL: 'info',
  };
  const m = track(spawn(process.execPath, [bin, 'monitor'], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
  try {
    await m.waitFor(/monitor started/, 30_000);
    await sleep(15_000); // past start-up: module loading, the first rounds, the first major GC
    const pid = m.proc.pid!;
    const a = procTimes(pid);
    const t0 = performance.now();
    const rss: number[] = [];
    for (let i = 0; i < seconds; i += 5) {
      await sleep(5000);
      rss.push(rssMiB(pid));
    }
    const b = procTimes(pid);
    const elapsed = performance.now() - t0;
    rss.sort((x, y) => x - y);
    return { rssMedian: rss[Math.floor(rss.length / 2)]!, rssMax: rss.at(-1)!, cpuPercent: (100 * (b.own - a.own)) / elapsed };
  } finally {
    await m.kill('SIGTERM');
    rmSync(stateDir, { recursive: true, force: true });
  }
}

async function main() {
  const sampler = createHostSampler({ mounts: ['/'] });
  const ours = await measure('httpagent /proc sampler', 2000, () => sampler.sample());
  // The same figures through systeminformation: CPU %, memory, disk I/O, network per interface, fs use.
  const theirs = await measure('systeminformation', 20, () => Promise.all([si.currentLoad(), si.mem(), si.disksIO(), si.networkStats('*'), si.fsSize()]));
  const idleSec = Number(process.env.BENCH_IDLE_SEC ?? 60);
  const idle = await idleMonitor(idleSec);

  const rows = [ours, theirs].map((r) => ({
    collector: r.name,
    rounds: r.rounds,
    'wall ms/sample': ms(r.wallMs),
    'CPU ms/sample (own)': ms(r.cpuMs),
    'CPU ms/sample (child procs)': ms(r.childCpuMs),
    'CPU ms/sample (total)': ms(r.cpuMs + r.childCpuMs),
  }));
  process.stdout.write('\nOne full host sample (CPU, memory, disk I/O, network, filesystem use)\n');
  console.table(rows);
  process.stdout.write(`ratio (total CPU): systeminformation / httpagent = ${((theirs.cpuMs + theirs.childCpuMs) / ours.cpuMs).toFixed(0)}x\n\n`);
  process.stdout.write(`Idle \`httpagent monitor\` (compiled, 10 s intervals, ${idleSec} s window after a 15 s settle)\n`);
  console.table([{ 'RSS MiB (median)': idle.rssMedian.toFixed(1), 'RSS MiB (max)': idle.rssMax.toFixed(1), 'CPU %': idle.cpuPercent.toFixed(3), target: 'RSS <= 60 MiB, CPU <= 0.5 %' }]);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
