// scripts/init on a real host as root: a real system user and group (useradd/groupadd, removed in
// teardown), the layout owned by them, idempotent reruns, and apt-get only for packages dpkg lacks.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { asRoot, runTask, scriptsDir, tempRoot } from '../helpers/task-scripts.js';

const t = tempRoot('httpagent-init-');
const srv = join(t.root, 'srv');
const settings = { SERVICE_ROOTS: srv };
const suffix = Math.random().toString(36).slice(2, 8);
const user = `hat${suffix}`;
const group = `hatg${suffix}`;
const user2 = `hat2${suffix}`;

// apt-get would reach Debian's mirrors, and tests stay on 127.0.0.0/8: a stand-in first on PATH
// records how init calls it. dpkg-query, useradd and everything else are the host's own.
const stubBin = join(t.root, 'bin');
const aptLog = join(t.root, 'apt-get.log');
mkdirSync(srv, { recursive: true });
mkdirSync(stubBin, { recursive: true });
writeFileSync(join(stubBin, 'apt-get'), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${aptLog}'\n`);
chmodSync(join(stubBin, 'apt-get'), 0o755);
const withStub = { PATH: `${stubBin}:${process.env.PATH ?? ''}` };

const owner = (path: string) => {
  const st = statSync(path);
  return `${execFileSync('id', ['-nu', String(st.uid)]).toString().trim()}:${execFileSync('getent', ['group', String(st.gid)]).toString().split(':')[0]}`;
};

afterAll(() => {
  if (asRoot) {
    for (const u of [user, user2]) execFileSync('sh', ['-c', `userdel -- ${u} 2>/dev/null || true`]);
    for (const g of [user, group, user2]) execFileSync('sh', ['-c', `groupdel -- ${g} 2>/dev/null || true`]);
  }
  t.cleanup();
});

describe.skipIf(!asRoot)('scripts/init (as root: it runs useradd and apt-get; skipped otherwise)', () => {
  const app = join(srv, 'app');

  it('creates the service user, the layout it owns and the baseline; apt-get does not run for installed packages', async () => {
    const r = await runTask('init', { dir: app, user, packages: 'coreutils,dash' }, { ...settings, ...withStub });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('package coreutils already installed');
    expect(r.out).toContain('package dash already installed');
    expect(existsSync(aptLog)).toBe(false);
    expect(r.out).toContain(`created user ${user}`);
    const pw = execFileSync('getent', ['passwd', user]).toString().trim().split(':');
    expect(pw[5]).toBe(app);
    expect(pw[6]).toBe('/usr/sbin/nologin');
    for (const d of ['', 'releases', 'shared/config', 'shared/logs', 'run', 'tmp']) {
      expect(statSync(join(app, d)).isDirectory()).toBe(true);
      expect(owner(join(app, d))).toBe(`${user}:${user}`);
      expect(statSync(join(app, d)).mode & 0o7777).toBe(0o755);
    }
    expect(readFileSync(join(app, 'baseline.list'), 'utf8')).toContain('tree shared/config');
  });

  it('runs again without changing anything (the baseline an operator edited is kept)', async () => {
    writeFileSync(join(app, 'baseline.list'), 'dir releases\n');
    const r = await runTask('init', { dir: app, user, packages: 'coreutils' }, { ...settings, ...withStub });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain(`user ${user} exists`);
    expect(r.out).not.toMatch(/^created /m);
    expect(readFileSync(join(app, 'baseline.list'), 'utf8')).toBe('dir releases\n');
  });

  it('installs only the listed packages that are missing, with apt-get', async () => {
    const r = await runTask('init', { dir: app, user, packages: 'coreutils httpagent-test-not-installed' }, { ...settings, ...withStub });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('installing packages: httpagent-test-not-installed');
    expect(readFileSync(aptLog, 'utf8')).toBe('update -q\ninstall -y -q --no-install-recommends -- httpagent-test-not-installed\n');
  });

  it('gives the layout to a group, made when missing, with the mode asked for', async () => {
    const dir = join(srv, 'app2');
    const r = await runTask('init', { dir, user: user2, group, mode: '2775' }, { ...settings, ...withStub });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain(`created group ${group}`);
    expect(owner(join(dir, 'releases'))).toBe(`${user2}:${group}`);
    expect(statSync(join(dir, 'releases')).mode & 0o7777).toBe(0o2775);
  });

  it('refuses bad params before changing anything', async () => {
    for (const [params, message] of [
      [{ dir: join(t.root, 'elsewhere'), user }, 'is not inside a service root'],
      [{ dir: join(srv, 'x'), user: 'svc;id' }, 'user may hold only'],
      [{ dir: join(srv, 'x'), user, packages: 'ok,$(id)' }, 'invalid Debian package name'],
      [{ dir: join(srv, 'x') }, 'param user is required'],
    ] as const) {
      const r = await runTask('init', params, { ...settings, ...withStub });
      expect(r.code, r.out).toBe(2);
      expect(r.out).toContain(message);
    }
    expect(existsSync(join(srv, 'x'))).toBe(false);
    expect(existsSync(join(t.root, 'elsewhere'))).toBe(false);
  });

  it('refuses to run as anyone but root', async () => {
    const child = spawn(join(scriptsDir, 'init'), [], {
      uid: 65534,
      gid: 65534,
      cwd: '/',
      env: { PATH: process.env.PATH ?? '', HTTPAGENT_PARAM_DIR: join(srv, 'y'), HTTPAGENT_PARAM_USER: user },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code, out).toBe(2);
    expect(out).toContain('init must run as root');
  });
});
