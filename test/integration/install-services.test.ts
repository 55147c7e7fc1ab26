// install.sh with services, against a private supervisord and a real controller: system files go
// under --system-root, supervisorctl talks to the private socket. Each test's prefix holds the code
// under test as a release named for this checkout's HEAD (quick-release.ts), so install.sh goes on from
// "already built". Needs root (supervisord programs with user=);
// skipped otherwise. Each test installs into its own prefix with its own supervisord.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { offlineNpmEnv } from '../helpers/offline-npm.js';
import { freePort } from '../helpers/ports.js';
import { seedHeadRelease } from '../helpers/quick-release.js';
import { repoRoot } from '../helpers/processes.js';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { tempDirTasksCanRead } from '../helpers/task-user.js';
import { waitUntil } from '../helpers/wait.js';
import { ENROLL_TOKEN, startController, type Running } from './controller-harness.js';
import { startSupervisord, type PrivateSupervisord } from './ops-helpers.js';

const asRoot = process.getuid?.() === 0;
/** Made by the first install (the agent runs as root by default, its tasks as this user); removed at the end. */
const TASK_USER = `hast${process.pid}`;

let redis: PrivateRedis;
let ctl: Running;

interface Installation {
  dir: string;
  sysroot: string;
  prefix: string;
  agentId: string;
  sup: PrivateSupervisord;
  install(...args: string[]): Promise<{ code: number; out: string }>;
}

let n = 0;
/** A fresh prefix holding the built release, a system root and a supervisord that includes its conf.d. */
async function installation(): Promise<Installation> {
  // The prefix is reachable through it, as /opt is on a host: the agent's task user must reach its tasks.
  const dir = tempDirTasksCanRead('httpagent-installsvc-');
  // Cleaned up however the test ends, also while this setup is still under way (a timeout).
  let started: PrivateSupervisord | undefined;
  onTestFinished(async () => {
    await started?.shutdown();
    rmSync(dir, { recursive: true, force: true });
  });
  const sysroot = join(dir, 'sys');
  const prefix = join(dir, 'prefix');
  mkdirSync(join(sysroot, 'etc/supervisor/conf.d'), { recursive: true });
  await seedHeadRelease(prefix);
  const sup = (started = await startSupervisord(join(dir, 'sup'), [join(sysroot, 'etc/supervisor/conf.d/*.conf')]));
  // An id of its own: the controller still lists an earlier test's agent as online for a while.
  const agentId = `installed-agent-${++n}`;
  const port = await freePort();
  const install = (...args: string[]) => {
    const argv = [
      '--prefix', prefix, '--source', repoRoot, '--init', 'supervisor', '--supervisor-conf', sup.conf, '--system-root', sysroot,
      '--task-user', TASK_USER, '--controller-url', ctl.url, '--agent-id', agentId, '--listen', `127.0.0.1:${port}`, '--wait-sec', '120', ...args,
    ];
    // npm offline (see offline-npm.ts), should install.sh ever build here: it finds the release built.
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', HTTPAGENT_ENROLL_TOKEN: ENROLL_TOKEN, ...offlineNpmEnv() };
    return new Promise<{ code: number; out: string }>((resolve) => {
      execFile(join(repoRoot, 'install.sh'), argv, { env, timeout: 300_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, out: stdout + stderr });
      });
    });
  };
  return { dir, sysroot, prefix, agentId, sup, install };
}

describe.skipIf(!asRoot)('install.sh with supervisor services', { timeout: 600_000 }, () => {
  beforeAll(async () => {
    redis = await startRedis();
    ctl = await startController(redis.url, { longPollMs: 1000 });
  });

  afterAll(async () => {
    await ctl?.close();
    await redis?.stop();
    await new Promise((resolve) => execFile('userdel', [TASK_USER], resolve));
  });

  it('installs, starts the programs and waits until the agent has enrolled and answers on its port', async () => {
    const i = await installation();
    const r = await i.install();
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/enrolled; the agent answers on .* \(online\)/);
    expect(r.out).not.toContain(ENROLL_TOKEN);
    // The host keeps its own credential, not the token that enrolled it.
    expect(statSync(join(i.prefix, 'var/credential')).mode & 0o777).toBe(0o600);
    await waitUntil('the enrollment token file deleted', () => !existsSync(join(i.prefix, 'var/enroll-token')));
    // The agent registers before supervisord's startsecs (2 s) have passed, so it may still say STARTING.
    const status = await waitUntil('the agent RUNNING', async () => {
      const out = (await i.sup.ctl('status', 'httpagent:httpagent-agent')).out;
      return /RUNNING/.test(out) ? out : undefined;
    });
    expect(status).toMatch(/RUNNING/);
    expect(statSync(join(i.sysroot, 'usr/local/sbin/httpagent-watchdog')).mode & 0o777).toBe(0o755);
    expect(existsSync(join(i.sysroot, 'etc/cron.d/httpagent-watchdog'))).toBe(true);
  });

  it('a second run changes nothing and does not restart the agent', async () => {
    const i = await installation();
    expect((await i.install()).code).toBe(0);
    const pid = (await i.sup.ctl('pid', 'httpagent:httpagent-agent')).out.trim();
    const r = await i.install();
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/nothing changed/);
    expect((await i.sup.ctl('pid', 'httpagent:httpagent-agent')).out.trim()).toBe(pid);
  });

  it('--uninstall stops and removes the programs and every file it made, keeping logs', async () => {
    const i = await installation();
    expect((await i.install()).code).toBe(0);
    const r = await i.install('--uninstall');
    expect(r.code, r.out).toBe(0);
    expect((await i.sup.ctl('status')).out).not.toMatch(/httpagent/);
    expect(readdirSync(join(i.sysroot, 'etc/supervisor/conf.d'))).toEqual([]);
    expect(existsSync(join(i.sysroot, 'etc/cron.d/httpagent-watchdog'))).toBe(false);
    expect(existsSync(join(i.sysroot, 'usr/local/sbin/httpagent-watchdog'))).toBe(false);
    // What stays (the logs, the task user) is still listed, for a later --uninstall --purge.
    expect(readdirSync(i.prefix).sort()).toEqual(['.install-manifest', 'log']);
  });
});
