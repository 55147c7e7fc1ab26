// Regression: install.sh with supervisord stopped failed at a step with no reason, and its rollback failed
// too (`mv: cannot stat httpagent.yaml.install-backup`), leaving a changed config and a chowned prefix.
// Here every step is broken in turn (--fail-at-step N, a test option) and the host must be as before,
// byte for byte: every file and link under the prefix and the system root by type, owner, mode, content
// hash and mtime; the user; supervisord's state and the programs it runs. Once on a fresh host (nothing
// installed, supervisord stopped), once on an install that runs (a new release and a new setting).
// Needs root; skipped otherwise.
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { makeStubSource, runInstall, snapshot, snapshotDiff } from './install-helpers.js';
import { waitUntil } from '../helpers/wait.js';
import { startSupervisord, type PrivateSupervisord } from './ops-helpers.js';

const run = promisify(execFile);
const asRoot = process.getuid?.() === 0;
const ENROLL_TOKEN = 'rollback-enroll-token-0123456789-abcd';
const USER = `har${process.pid}`;
const TASK_USER = `hart${process.pid}`;
const AGENT = 'httpagent:httpagent-agent';
/** The steps a rollback covers: [1] checking requirements … [11] install manifest. */
const STEPS = Array.from({ length: 11 }, (_, i) => i + 1);

let dir: string;
let source: string;
let sysroot: string;
let prefix: string;
let tokenFile: string;
let sup: PrivateSupervisord;
let port: number;

const install = (args: string[]) =>
  runInstall({
    args: [
      '--prefix', prefix, '--source', source, '--init', 'supervisor', '--supervisor-conf', sup.conf, '--system-root', sysroot, '--user', USER,
      '--task-user', TASK_USER, '--agent-id', 'rollback-agent', '--listen', `127.0.0.1:${port}`, '--wait-sec', '90', '--supervisor-socket-access', '--enroll-token-file', tokenFile, ...args,
    ],
    env: { HTTPAGENT_INSTALL_NO_GIT: '1' },
    timeoutMs: 300_000,
  });

/**
 * The host as far as install.sh touches it. Left out: the log files (the running agent appends to them)
 * and running.json, which the agent rewrites each time it starts (a rollback starts it again).
 */
const agentsOwn = (k: string) => k.startsWith('log/') || k === 'var/update/running.json';
function host(): Record<string, unknown> {
  return { prefix: snapshot(prefix, agentsOwn), sysroot: snapshot(sysroot) };
}
const userExists = (name = USER) => run('id', ['-u', name]).then(() => true, () => false);
/** The commit of the agent serving now, as the agent records it once it listens (what the update guard reads). */
const servingCommit = () => {
  try {
    const r = JSON.parse(readFileSync(join(prefix, 'var/update/running.json'), 'utf8')) as { pid: number; commit: string };
    process.kill(r.pid, 0);
    return r.commit;
  } catch {
    return undefined;
  }
};

describe.skipIf(!asRoot)('install.sh rolls back every step', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'httpagent-rollback-'));
    chmodSync(dir, 0o755);
    const runLog = join(dir, 'runs.log');
    writeFileSync(runLog, '');
    chmodSync(runLog, 0o666);
    source = join(dir, 'source');
    makeStubSource(source, { runLog, enrollToken: ENROLL_TOKEN });
    tokenFile = join(dir, 'enroll-token');
    writeFileSync(tokenFile, `${ENROLL_TOKEN}\n`, { mode: 0o600 });
    sysroot = join(dir, 'sys');
    prefix = join(dir, 'prefix');
    mkdirSync(join(sysroot, 'etc/supervisor/conf.d'), { recursive: true });
    port = await freePort();
    sup = await startSupervisord(join(dir, 'sup'), [join(sysroot, 'etc/supervisor/conf.d/*.conf')]);
    await sup.shutdown();
  });

  afterAll(async () => {
    await sup?.shutdown();
    await run('userdel', [USER]).catch(() => undefined);
    await run('userdel', [TASK_USER]).catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('on a fresh host: nothing is left, no user, supervisord stopped again', async () => {
    const before = host();
    expect(existsSync(prefix)).toBe(false);
    for (const n of STEPS) {
      const r = await install(['--fail-at-step', String(n)]);
      expect(r.code, `step ${n}\n${r.out}`).toBe(1);
      expect(r.out).toContain(`failing after step ${n}, as --fail-at-step asked`);
      expect(r.out).toMatch(/rolled back; the host is as it was before this run/);
      expect(r.out, `step ${n}`).not.toMatch(/could not undo/);
      expect(snapshotDiff(before.sysroot as Record<string, string>, snapshot(sysroot)), `step ${n}`).toEqual([]);
      expect(existsSync(prefix), `step ${n}`).toBe(false);
      expect(await userExists(), `step ${n}`).toBe(false);
      expect(await userExists(TASK_USER), `step ${n}`).toBe(false);
      expect((await sup.ctl('status')).code, `step ${n}: supervisord stopped again`).toBe(4);
    }
  }, 1_800_000);

  it('on an install that runs: files, owners and modes as before, the old release serving', async () => {
    const first = await install([]);
    expect(first.code, first.out).toBe(0);
    const oldCommit = readFileSync(join(prefix, 'current', 'COMMIT'), 'utf8').trim();
    await waitUntil('the agent RUNNING', async () => (await sup.state(AGENT)) === 'RUNNING');
    // The next run would bring a new release (a changed source) and a new setting.
    writeFileSync(join(source, 'src/notes.txt'), 'a change, so the source makes a new release\n');
    const before = host();
    for (const n of STEPS) {
      const r = await install(['--labels', 'rack=r2', '--fail-at-step', String(n)]);
      expect(r.code, `step ${n}\n${r.out}`).toBe(1);
      expect(r.out).toContain(`failing after step ${n}, as --fail-at-step asked`);
      expect(r.out, `step ${n}`).not.toMatch(/could not undo/);
      const diff = [
        ...snapshotDiff(before.prefix as Record<string, string>, snapshot(prefix, agentsOwn)),
        ...snapshotDiff(before.sysroot as Record<string, string>, snapshot(sysroot)),
      ];
      expect(diff, `step ${n}`).toEqual([]);
      expect(await userExists()).toBe(true);
      expect(await userExists(TASK_USER)).toBe(true);
      await waitUntil(`step ${n}: the old release serving`, async () => (await sup.state(AGENT)) === 'RUNNING' && servingCommit() === oldCommit);
    }
    const done = await install(['--uninstall', '--purge']);
    expect(done.code, done.out).toBe(0);
  }, 1_800_000);
});
