// The host both install.sh rollback tests break step by step (install-rollback-fresh, -running): a stub
// source, a system root, a private supervisord (stopped, as on a fresh host), a service and a task user
// named after the worker's pid, and what "the host is as it was" compares. Two files, so the two
// scenarios run side by side: 11 install runs each.
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { makeStubSource, runInstall, snapshot, type Run } from './install-helpers.js';
import { startSupervisord, type PrivateSupervisord } from './ops-helpers.js';

const run = promisify(execFile);
const ENROLL_TOKEN = 'rollback-enroll-token-0123456789-abcd';
/** The steps a rollback covers: [1] checking requirements … [11] install manifest. */
export const STEPS = Array.from({ length: 11 }, (_, i) => i + 1);
export const AGENT = 'httpagent:httpagent-agent';

export interface RollbackHost {
  prefix: string;
  source: string;
  sysroot: string;
  sup: PrivateSupervisord;
  user: string;
  taskUser: string;
  install(args: string[]): Promise<Run>;
  /** The host as far as install.sh touches it (snapshot() of the prefix and the system root). */
  host(): { prefix: Record<string, string>; sysroot: Record<string, string> };
  userExists(name: string): Promise<boolean>;
  /** The commit of the agent serving now, as the agent records it once it listens (what the update guard reads). */
  servingCommit(): string | undefined;
}

/**
 * Left out of the prefix's snapshot: the log files (the running agent appends to them) and running.json,
 * which the agent rewrites each time it starts (a rollback starts it again).
 */
export const agentsOwn = (k: string) => k.startsWith('log/') || k === 'var/update/running.json';

/** Sets the host up before the file's tests and takes it down after; read its fields inside tests. */
export function useRollbackHost(tag: string): RollbackHost {
  const h = { user: `${tag}${process.pid}`, taskUser: `${tag}t${process.pid}` } as RollbackHost;
  let dir: string | undefined;
  let tokenFile: string;
  let port: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'httpagent-rollback-'));
    chmodSync(dir, 0o755);
    const runLog = join(dir, 'runs.log');
    writeFileSync(runLog, '');
    chmodSync(runLog, 0o666);
    h.source = join(dir, 'source');
    makeStubSource(h.source, { runLog, enrollToken: ENROLL_TOKEN });
    tokenFile = join(dir, 'enroll-token');
    writeFileSync(tokenFile, `${ENROLL_TOKEN}\n`, { mode: 0o600 });
    h.sysroot = join(dir, 'sys');
    h.prefix = join(dir, 'prefix');
    mkdirSync(join(h.sysroot, 'etc/supervisor/conf.d'), { recursive: true });
    port = await freePort();
    h.sup = await startSupervisord(join(dir, 'sup'), [join(h.sysroot, 'etc/supervisor/conf.d/*.conf')]);
    await h.sup.shutdown();
  });

  afterAll(async () => {
    await h.sup?.shutdown();
    await run('userdel', [h.user]).catch(() => undefined);
    await run('userdel', [h.taskUser]).catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  h.install = (args) =>
    runInstall({
      args: [
        '--prefix', h.prefix, '--source', h.source, '--init', 'supervisor', '--supervisor-conf', h.sup.conf, '--system-root', h.sysroot, '--user', h.user,
        '--task-user', h.taskUser, '--agent-id', 'rollback-agent', '--listen', `127.0.0.1:${port}`, '--wait-sec', '90', '--supervisor-socket-access', '--enroll-token-file', tokenFile, ...args,
      ],
      env: { HTTPAGENT_INSTALL_NO_GIT: '1' },
      timeoutMs: 300_000,
    });
  h.host = () => ({ prefix: snapshot(h.prefix, agentsOwn), sysroot: snapshot(h.sysroot) });
  h.userExists = (name) => run('id', ['-u', name]).then(() => true, () => false);
  h.servingCommit = () => {
    try {
      const r = JSON.parse(readFileSync(join(h.prefix, 'var/update/running.json'), 'utf8')) as { pid: number; commit: string };
      process.kill(r.pid, 0);
      return r.commit;
    } catch {
      return undefined;
    }
  };
  return h;
}
