// install.sh with services, against a private supervisord and a real controller: system files go
// under --system-root, supervisorctl talks to the private socket. The release is this checkout's
// committed HEAD, really built. Needs root (supervisord programs with user=); skipped otherwise.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { offlineNpmEnv } from '../helpers/offline-npm.js';
import { freePort } from '../helpers/ports.js';
import { repoRoot } from '../helpers/processes.js';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { AGENT_TOKEN, PLATFORM_TOKEN, startController, type Running } from './controller-harness.js';
import { waitUntil } from '../helpers/wait.js';
import { startSupervisord, type PrivateSupervisord } from './ops-helpers.js';

const asRoot = process.getuid?.() === 0;
const AGENT_ID = 'installed-agent';

let dir: string;
let redis: PrivateRedis;
let ctl: Running;
let sup: PrivateSupervisord;
let sysroot: string;
let prefix: string;
let port: number;

function install(...args: string[]): Promise<{ code: number; out: string }> {
  const argv = [
    '--prefix', prefix, '--source', repoRoot, '--init', 'supervisor', '--supervisor-conf', sup.conf, '--system-root', sysroot,
    '--user', 'root', '--controller-url', ctl.url, '--agent-id', AGENT_ID, '--listen', `127.0.0.1:${port}`, '--wait-sec', '60', ...args,
  ];
  // npm ci from the local cache only (see offline-npm.ts): the build never reaches a registry.
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', HTTPAGENT_AGENT_TOKEN: AGENT_TOKEN, HTTPAGENT_PLATFORM_TOKEN: PLATFORM_TOKEN, ...offlineNpmEnv() };
  return new Promise((resolve) => {
    execFile(join(repoRoot, 'install.sh'), argv, { env, timeout: 300_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, out: stdout + stderr });
    });
  });
}

describe.skipIf(!asRoot)('install.sh with supervisor services', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'httpagent-installsvc-'));
    redis = await startRedis();
    ctl = await startController(redis.url, { longPollMs: 1000 });
    port = await freePort();
    sysroot = join(dir, 'sys');
    prefix = join(dir, 'prefix');
    mkdirSync(join(sysroot, 'etc/supervisor/conf.d'), { recursive: true });
    sup = await startSupervisord(join(dir, 'sup'), [join(sysroot, 'etc/supervisor/conf.d/*.conf')]);
  });

  afterAll(async () => {
    await sup?.shutdown();
    await ctl?.close();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('installs, starts the programs and waits until the agent is online at the controller', async () => {
    const r = await install();
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain(`agent ${AGENT_ID} is online`);
    expect(r.out).not.toContain(AGENT_TOKEN);
    // The agent registers before supervisord's startsecs (2 s) have passed, so it may still say STARTING.
    const status = await waitUntil('the agent RUNNING', async () => {
      const out = (await sup.ctl('status', 'httpagent:httpagent-agent')).out;
      return /RUNNING/.test(out) ? out : undefined;
    });
    expect(status).toMatch(/RUNNING/);
    expect(statSync(join(sysroot, 'usr/local/sbin/httpagent-watchdog')).mode & 0o777).toBe(0o755);
    expect(existsSync(join(sysroot, 'etc/cron.d/httpagent-watchdog'))).toBe(true);
  }, 300_000);

  it('a second run changes nothing and does not restart the agent', async () => {
    const pid = (await sup.ctl('pid', 'httpagent:httpagent-agent')).out.trim();
    const r = await install();
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/nothing changed/);
    expect((await sup.ctl('pid', 'httpagent:httpagent-agent')).out.trim()).toBe(pid);
  }, 120_000);

  it('--uninstall stops and removes the programs and every file it made, keeping logs', async () => {
    const r = await install('--uninstall');
    expect(r.code, r.out).toBe(0);
    expect((await sup.ctl('status')).out).not.toMatch(/httpagent/);
    expect(readdirSync(join(sysroot, 'etc/supervisor/conf.d'))).toEqual([]);
    expect(existsSync(join(sysroot, 'etc/cron.d/httpagent-watchdog'))).toBe(false);
    expect(existsSync(join(sysroot, 'usr/local/sbin/httpagent-watchdog'))).toBe(false);
    expect(readdirSync(prefix)).toEqual(['log']);
  }, 120_000);
});
