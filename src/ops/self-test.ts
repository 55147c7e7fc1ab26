// `httpagent agent --self-test`: proves a release loads and accepts this host's config without
// starting anything, so self-update never switches to a release that cannot even start.
import { accessSync, constants, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cron } from 'croner';
import type { AgentConfig } from '../shared/config/agent-config.js';
import { loadTaskManifest } from '../shared/config/task-manifest.js';
import { packageRoot, readCommit, version } from '../shared/package-info.js';

export interface SelfTestCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface SelfTestResult {
  ok: boolean;
  version: string;
  commit: string | undefined;
  checks: SelfTestCheck[];
}

function check(name: string, fn: () => string): SelfTestCheck {
  try {
    return { name, ok: true, detail: fn() };
  } catch (err) {
    return { name, ok: false, detail: (err as Error).message };
  }
}

/** Runs after the config was loaded and validated (that is the first check, done by the caller). */
export function runSelfTest(config: AgentConfig, root: string = packageRoot): SelfTestResult {
  const checks: SelfTestCheck[] = [
    check('state-dir', () => {
      mkdirSync(config.stateDir, { recursive: true });
      const probe = join(config.stateDir, `.self-test-${process.pid}`);
      writeFileSync(probe, 'ok');
      rmSync(probe);
      return `${config.stateDir} is writable`;
    }),
    check('tasks-dir', () => {
      const dir = config.tasksDir ?? join(root, 'scripts');
      if (!statSync(dir).isDirectory()) throw new Error(`${dir} is not a directory`);
      accessSync(dir, constants.R_OK | constants.X_OK);
      return `${dir} is readable`;
    }),
    check('task-manifest', () => {
      const { manifest, file } = loadTaskManifest(config.tasksDir ?? join(root, 'scripts'));
      return file ? `${file}: ${Object.keys(manifest.tasks).length} task(s)` : 'no tasks.yaml: every task runs as the task user';
    }),
    check('schedules', () => {
      for (const s of config.schedules) {
        // nextRun computes a date in the zone: a pattern and zone that parse apart can still fail together.
        const cron = new Cron(s.cron, { paused: true, ...(s.timezone ? { timezone: s.timezone } : {}) });
        cron.nextRun();
        cron.stop();
      }
      new Cron(config.updateCron, { paused: true }).stop();
      return `${config.schedules.length} schedule(s) and updateCron parse`;
    }),
  ];
  return { ok: checks.every((c) => c.ok), version, commit: readCommit(), checks };
}

/** One line per check, for the console. */
export function formatSelfTest(r: SelfTestResult): string {
  const lines = [`httpagent ${r.version} (${r.commit ?? 'unknown commit'}) self-test: ${r.ok ? 'ok' : 'FAILED'}`];
  for (const c of r.checks) lines.push(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
  return lines.join('\n') + '\n';
}
