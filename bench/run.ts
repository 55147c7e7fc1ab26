// `npm run bench [-- --quick] [-- --only=pickup,burst] [-- --rounds=N] [-- --compare REV] [-- --agent-checks=off]`:
// runs every benchmark, each starting the services it needs (private redis-server, private sshd,
// controller and agents as processes from dist/), prints one table of figures beside their anchors
// (interleaved rounds: median ratio, spread, CPU per job), writes bench/results.json and appends the run
// to bench/history.jsonl. With --compare REV the interleaved figures measure this checkout against REV.
import { writeFileSync } from 'node:fs';
import { freemem, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { BenchContext, Build, Figure } from './lib/figure.js';
import { differences, prepareBuild, renderDifferences, type TempBuild } from './lib/compare.js';
import { appendHistory, commitOf, historyFigures, historyFile, machine as machineInfo } from './lib/history.js';
import { renderTable, ratio, type Row } from './lib/report.js';
import type { RoundsResult } from './lib/rounds.js';
import { stopAllSshd } from './lib/sshd.js';
import { killLeftovers, setAgentChecks, stopEverything } from './lib/system.js';
import { repoRoot } from '../test/helpers/processes.js';
import { agentChecks } from './figures/agent-checks.js';
import { bundleFleet } from './figures/bundle-fleet.js';
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

const figures: Figure[] = [lightRun, pickup, throughput, agentChecks, spawnJobs, redelivery, manyAgents, logStream, footprint, burst, monitorSample, jacocoFlood, jobList, bundleFleet, dashboard];

/** The other commit's temporary worktree with --compare, removed at the end (or on Ctrl-C). */
let otherBuild: TempBuild | undefined;

// Ctrl-C mid-run: stop the private Redis, sshd, controllers and agents rather than orphan them.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    process.stderr.write(`\n${sig}: stopping what the benchmarks started\n`);
    void Promise.allSettled([stopEverything(), stopAllSshd(), otherBuild?.remove()]).finally(() => process.exit(130));
  });
}

/** `--name=value` or `--name value`. */
function option(name: string): string | undefined {
  const i = process.argv.findIndex((a) => a === name || a.startsWith(`${name}=`));
  if (i < 0) return undefined;
  return process.argv[i]!.includes('=') ? process.argv[i]!.slice(name.length + 1) : process.argv[i + 1];
}

async function main(): Promise<number> {
  const quick = process.argv.includes('--quick');
  const only = option('--only')?.split(',');
  const compareRev = option('--compare');
  const rounds = Number(option('--rounds') ?? (quick ? 3 : 5));
  if (!Number.isInteger(rounds) || rounds < 1) {
    process.stderr.write('--rounds wants a whole number ≥ 1\n');
    return 2;
  }
  // Every figure against controllers that do not check agent credentials (bench/lib/unchecked-controller.ts),
  // for an A/B by hand; the agent-checks figure does both sides itself.
  if (process.argv.includes('--agent-checks=off')) setAgentChecks(false);
  let selected = only ? figures.filter((f) => only.includes(f.name)) : figures;
  // Only figures measured in interleaved rounds can run on two builds side by side.
  if (compareRev) selected = selected.filter((f) => f.interleaved);
  if (selected.length === 0) {
    process.stderr.write(`no benchmark named ${only?.join(',')}${compareRev ? ' that runs in interleaved rounds' : ''}; known: ${figures.map((f) => `${f.name}${f.interleaved ? '*' : ''}`).join(', ')} (* interleaved)\n`);
    return 2;
  }
  const head = commitOf(repoRoot);
  const builds: Build[] = [{ label: `${head.commit.slice(0, 8)}${head.dirty ? '+changes' : ''}`, root: repoRoot }];
  if (compareRev) {
    otherBuild = await prepareBuild(repoRoot, compareRev, (m) => process.stderr.write(`[compare] ${m}\n`));
    builds.push(otherBuild);
  }
  try {
    return await runFigures(selected, { quick, rounds, builds, head });
  } finally {
    await otherBuild?.remove();
  }
}

async function runFigures(selected: Figure[], o: { quick: boolean; rounds: number; builds: Build[]; head: { commit: string; dirty: boolean } }): Promise<number> {
  const { quick } = o;
  const records: RoundsResult[] = [];
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
      figure: fig.name,
      rounds: o.rounds,
      builds: o.builds,
      recordRounds: (r) => void records.push(r),
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
  const load = { before: +loadBefore.toFixed(2), after: +loadavg()[0]!.toFixed(2) };
  const machine = { ...machineInfo(), memFreeGiB: +(freemem() / 2 ** 30).toFixed(1) };
  const table = renderTable(rows);
  const notes = rows.filter((r) => r.note).map((r) => `- ${r.bench} / ${r.figure}: ${r.note}`);
  process.stdout.write(`\n${table}\n\n${notes.join('\n')}\n\n`);
  const [ours, theirs] = o.builds;
  const diffs = theirs ? differences(records, ours!.label, theirs.label) : [];
  if (theirs) process.stdout.write(`${ours!.label} against ${theirs.label}, ${o.rounds} interleaved rounds each:\n\n${renderDifferences(diffs, ours!.label, theirs.label)}\n\n`);
  process.stdout.write(
    // Other work on the machine moves the figures, p99s most: the 1-minute load average around the run.
    `${quick ? 'quick run' : 'full run'}, ${o.rounds} rounds, in ${seconds.toFixed(0)} s on ${machine.cpus} cores (${machine.model}), ${machine.memGiB} GiB, node ${machine.node}, redis ${machine.redis}; load average ${load.before} before, ${load.after} after\n`,
  );
  const out = fileURLToPath(new URL('./results.json', import.meta.url));
  writeFileSync(
    out,
    JSON.stringify({ at: new Date().toISOString(), quick, rounds: o.rounds, builds: o.builds.map((b) => b.label), seconds, machine, loadAverage: load, rows: rows.map((r) => ({ ...r, ratio: ratio(r) })), roundsDetail: records, differences: diffs, details, failures }, null, 2) + '\n',
  );
  appendHistory({
    date: new Date().toISOString(),
    commit: o.head.commit,
    dirty: o.head.dirty,
    quick,
    rounds: o.rounds,
    ...(theirs ? { compare: { rev: theirs.label, commit: (theirs as TempBuild).commit, figures: diffs } } : {}),
    seconds,
    machine,
    load,
    figures: historyFigures(rows),
  });
  process.stdout.write(`wrote ${out}, appended to ${historyFile}\n`);
  return Object.keys(failures).length > 0 ? 1 : 0;
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
