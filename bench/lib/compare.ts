// `npm run bench -- --compare REV`: REV checked out into a temporary worktree and built there (with this
// checkout's node_modules through a symlink: no registry), then every interleaved figure measures ours on
// both builds, round by round in the same session (bench/lib/rounds.ts), and this prints the difference
// per figure: the median of the per-round ratios this/REV, their min–max, and whether they say anything.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Build } from './figure.js';
import { MIN_ROUNDS_TO_CONCLUDE, median } from './rounds.js';
import type { Measurement, RoundsResult } from './rounds.js';

const run = promisify(execFile);

export interface TempBuild extends Build {
  commit: string;
  remove(): Promise<void>;
}

/** Checks out `rev` beside this checkout (git worktree add --detach) and builds its dist/. */
export async function prepareBuild(repoRoot: string, rev: string, log: (m: string) => void): Promise<TempBuild> {
  const git = (...args: string[]) => run('git', ['-C', repoRoot, ...args], { maxBuffer: 16 * 1024 * 1024 });
  const commit = (await git('rev-parse', '--verify', `${rev}^{commit}`)).stdout.trim();
  const root = mkdtempSync(join(tmpdir(), `httpagent-bench-${commit.slice(0, 8)}-`));
  rmSync(root, { recursive: true }); // git worktree add wants to create it
  log(`checking out ${rev} (${commit.slice(0, 12)}) into ${root}`);
  await git('worktree', 'add', '--detach', root, commit);
  const remove = async (): Promise<void> => {
    await git('worktree', 'remove', '--force', root).catch(() => rmSync(root, { recursive: true, force: true }));
    await git('worktree', 'prune').catch(() => undefined);
  };
  try {
    const modules = join(repoRoot, 'node_modules');
    if (!existsSync(modules)) throw new Error(`${modules} is missing: run npm ci here first`);
    symlinkSync(realpathSync(modules), join(root, 'node_modules'));
    log(`building ${commit.slice(0, 12)} (npm run build)`);
    await run('npm', ['run', 'build', '--silent'], { cwd: root, timeout: 15 * 60_000, maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    await remove();
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`could not build ${rev}: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
  return { label: commit.slice(0, 8), root, commit, remove };
}

export interface Difference {
  figure: string;
  measurement: string;
  value: string;
  unit: string;
  ours: number;
  theirs: number;
  ratio: { median: number; min: number; max: number };
  verdict: string;
}

/** Per recorded measurement and value (and CPU): this build against the other, round by round. */
export function differences(records: RoundsResult[], ours: string, theirs: string): Difference[] {
  const out: Difference[] = [];
  for (const rec of records) {
    const a = rec.builds[ours];
    const b = rec.builds[theirs];
    if (!a || !b) continue;
    type Pick = [string, (m: Measurement) => number, 'higher' | 'lower', string];
    const keys: Pick[] = [...Object.entries(rec.better).map(([k, dir]): Pick => [k, (m) => m.values[k]!, dir, '']), ['CPU', (m) => m.cpu, 'lower', rec.cpuUnit]];
    for (const [key, pick, dir, unit] of keys) {
      const x = a.map(pick);
      const y = b.map(pick);
      const ratios = x.map((v, i) => v / y[i]!).filter((r) => Number.isFinite(r));
      if (ratios.length === 0) continue;
      const m = median(ratios);
      const min = Math.min(...ratios);
      const max = Math.max(...ratios);
      const v = ratios.length < MIN_ROUNDS_TO_CONCLUDE ? `too few rounds (${ratios.length}) to conclude` : verdict(min, max, m, dir);
      out.push({ figure: rec.figure, measurement: rec.label, value: key, unit, ours: median(x), theirs: median(y), ratio: { median: m, min, max }, verdict: v });
    }
  }
  return out;
}

/** A direction only when every round agrees on it; otherwise the rounds cannot tell the builds apart. */
function verdict(min: number, max: number, m: number, dir: 'higher' | 'lower'): string {
  if (min <= 1 && max >= 1) return 'no clear difference (rounds on both sides of 1)';
  const higher = min > 1;
  return `${higher === (dir === 'higher') ? 'better' : 'worse'}: ${m > 1 ? '+' : ''}${((m - 1) * 100).toFixed(1)} % (every round agrees)`;
}

export function renderDifferences(diffs: Difference[], ours: string, theirs: string): string {
  const fmt = (x: number) => (Math.abs(x) >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(2));
  const header = ['figure', 'measurement', 'value', ours, theirs, `ratio ${ours}/${theirs} (median)`, 'spread (min–max)', 'verdict'];
  const lines = diffs.map((d) => [d.figure, d.measurement, d.unit ? `${d.value} (${d.unit})` : d.value, fmt(d.ours), fmt(d.theirs), d.ratio.median.toFixed(3), `${d.ratio.min.toFixed(3)}–${d.ratio.max.toFixed(3)}`, d.verdict]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  return [line(header), '| ' + widths.map((w) => '-'.repeat(w)).join(' | ') + ' |', ...lines.map(line)].join('\n');
}
