// The shipped Prometheus alert rules (supervisor/prometheus): valid for promtool, their unit tests pass,
// and every fleet metric they use is one the controller exports. promtool is a Debian package
// (`prometheus`), not an npm one: without it the promtool part is skipped, saying so.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/processes.js';

const dir = join(repoRoot, 'supervisor', 'prometheus');
const rules = join(dir, 'httpagent-rules.yml');
const havePromtool = execFileSync('sh', ['-c', 'command -v promtool || true']).toString() !== '';

/** Runs promtool (bounded in time) and returns its exit status and output. */
function promtool(args: string[]): { status: number; out: string } {
  try {
    return { status: 0, out: execFileSync('promtool', args, { cwd: dir, timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] }).toString() };
  } catch (err) {
    const e = err as { status?: number; stdout?: Buffer; stderr?: Buffer };
    return { status: e.status ?? -1, out: `${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}` };
  }
}

describe.skipIf(!havePromtool)('Prometheus alert rules (skipped: promtool is not installed; apt-get install prometheus)', () => {
  it('pass promtool check rules', () => {
    const r = promtool(['check', 'rules', 'httpagent-rules.yml']);
    expect(r.out).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });

  it('pass their promtool unit tests (two controllers scraped, each alert once)', () => {
    const r = promtool(['test', 'rules', 'httpagent-rules.test.yml']);
    expect(r.out).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });
});

describe('the rules and the controller agree', () => {
  it('use only fleet metrics the controller exports, and every alert has a runbook in docs/operating-a-fleet.md', () => {
    const exported = new Set([...readFileSync(join(repoRoot, 'controller', 'src', 'fleet-metrics.ts'), 'utf8').matchAll(/'(httpagent_fleet_[a-z_]+)'/g)].map((m) => m[1]));
    const text = readFileSync(rules, 'utf8');
    const used = new Set([...text.matchAll(/\b(httpagent_fleet_[a-z_]+)\b/g)].map((m) => m[1]).filter((n) => n !== 'httpagent_fleet_'));
    expect(used.size).toBeGreaterThan(0);
    for (const name of used) expect(exported, `${name} is used by a rule`).toContain(name);

    const doc = readFileSync(join(repoRoot, 'docs', 'operating-a-fleet.md'), 'utf8');
    const alerts = [...text.matchAll(/- alert: (\w+)/g)].map((m) => m[1]!);
    expect(alerts.length).toBe(6);
    for (const a of alerts) expect(doc, `a runbook heading for ${a}`).toMatch(new RegExp(`^#### ${a}$`, 'm'));
  });
});
