// `npm run bench [-- --quick] [-- --only=pickup,burst] [-- --agent-checks=off]`: runs every benchmark, each starting the services
// it needs (private redis-server, private sshd, controller and agents as processes from dist/), prints
// one table of figures beside their anchors and writes bench/results.json.
import { writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { BenchContext, Figure } from './lib/figure.js';
import { renderTable, ratio, type Row } from './lib/report.js';
import { stopAllSshd } from './lib/sshd.js';
import { killLeftovers, setAgentChecks, stopEverything } from './lib/system.js';
import { agentChecks } from './figures/agent-checks.js';
import { burst } from './figures/burst.js';
import { dashboard } from './figures/dashboard.js';
import { footprint } from './figures/footprint.js';
import { jacocoFlood } from './figures/jacoco-flood.js';
import { jobList } from './figures/job-list.js';
import { lightRun } from './figures/light-run.js';
import { logStream } from './figures/log-stream.js';
import { manyAgents } from './figures/many-agents.js';
import { monitorSample } from './figures/monitor-sample.js';
import { pickup } from './figures/pickup.js';
import { redelivery } from './figures/redelivery.js';
import { spawnJobs } from './figures/spawn-jobs.js';
import { throughput } from './figures/throughput.js';

const figures: Figure[] = [lightRun, pickup, throughput, agentChecks, spawnJobs, redelivery, manyAgents, logStream, footprint, burst, monitorSample, jacocoFlood, jobList, dashboard];

// Ctrl-C mid-run: stop the private Redis, sshd, controllers and agents rather than orphan them.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    process.stderr.write(`\n${sig}: stopping what the benchmarks started\n`);
    void Promise.allSettled([stopEverything(), stopAllSshd()]).finally(() => process.exit(130));
  });
}

async function main(): Promise<number> {
  const quick = process.argv.includes('--quick');
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7).split(',');
  // Every figure against controllers that do not check agent credentials (bench/lib/unchecked-controller.ts),
  // for an A/B by hand; the agent-checks figure does both sides itself.
  if (process.argv.includes('--agent-checks=off')) setAgentChecks(false);
  const selected = only ? figures.filter((f) => only.includes(f.name)) : figures;
  if (selected.length === 0) {
    process.stderr.write(`no benchmark named ${only?.join(',')}; known: ${figures.map((f) => f.name).join(', ')}\n`);
    return 2;
  }
  const rows: Row[] = [];
  const details: Record<string, Record<string, unknown>> = {};
  const failures: Record<string, string> = {};
  const t0 = Date.now();
  const loadBefore = loadavg()[0]!;
  for (const fig of selected) {
    const started = Date.now();
    const detail: Record<string, unknown> = {};
    details[fig.name] = detail;
    const ctx: BenchContext = {
      quick,
      log: (m) => process.stderr.write(`[${fig.name}] ${m}\n`),
      detail: (k, v) => void (detail[k] = v),
    };
    process.stderr.write(`[${fig.name}] starting\n`);
    try {
      const got = await fig.run(ctx);
      rows.push(...got);
      for (const r of got) process.stderr.write(`[${fig.name}] ${r.figure}: ${fmt(r.ours)} ${r.unit}${r.anchor !== null ? ` vs ${fmt(r.anchor)} ${r.anchorName}` : ''}\n`);
    } catch (err) {
      // One broken figure must not hide the others: it shows as a failed row.
      failures[fig.name] = (err as Error).stack ?? String(err);
      process.stderr.write(`[${fig.name}] FAILED: ${(err as Error).stack ?? String(err)}\n`);
      rows.push({ bench: fig.name, figure: 'benchmark failed', unit: '-', ours: null, anchor: null, anchorName: null, target: '-', met: false, note: (err as Error).message });
    } finally {
      await killLeftovers();
    }
    detail.seconds = (Date.now() - started) / 1000;
  }
  const seconds = (Date.now() - t0) / 1000;
  const machine = {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memTotalGiB: +(totalmem() / 2 ** 30).toFixed(1),
    memFreeGiB: +(freemem() / 2 ** 30).toFixed(1),
    node: process.version,
    redis: redisVersion(),
    // Other work on the machine moves the figures, p99s most: the 1-minute load average around the run.
    loadAverage: { before: +loadBefore.toFixed(2), after: +loadavg()[0]!.toFixed(2) },
  };
  const table = renderTable(rows);
  const notes = rows.filter((r) => r.note).map((r) => `- ${r.bench} / ${r.figure}: ${r.note}`);
  process.stdout.write(`\n${table}\n\n${notes.join('\n')}\n\n`);
  process.stdout.write(
    `${quick ? 'quick run' : 'full run'} in ${seconds.toFixed(0)} s on ${machine.cores} cores (${machine.cpu}), ${machine.memTotalGiB} GiB, node ${machine.node}, redis ${machine.redis}; load average ${machine.loadAverage.before} before, ${machine.loadAverage.after} after\n`,
  );
  const out = fileURLToPath(new URL('./results.json', import.meta.url));
  writeFileSync(
    out,
    JSON.stringify({ at: new Date().toISOString(), quick, seconds, machine, rows: rows.map((r) => ({ ...r, ratio: ratio(r) })), details, failures }, null, 2) + '\n',
  );
  process.stdout.write(`wrote ${out}\n`);
  return Object.keys(failures).length > 0 ? 1 : 0;
}

function redisVersion(): string {
  try {
    return /v=(\S+)/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
  } catch {
    return 'not installed';
  }
}

function fmt(x: number | null): string {
  return x === null ? '—' : Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(2);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
