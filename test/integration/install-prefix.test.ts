// install.sh into a temp prefix without root (as `nobody` when the tests run as root), from a stub source
// tree with the release layout so npm ci/build/prune run for real in seconds: fresh install, a second run
// that changes nothing, --dry-run, a failing build that leaves nothing, the enrollment token from the
// environment, a file or stdin (never a flag), uninstall by the manifest.
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeStubSource, runInstall, snapshot, snapshotDiff } from './install-helpers.js';

const ENROLL_TOKEN = 'install-enroll-token-0123456789-abcdef';
const asRoot = process.getuid?.() === 0;
const nobody = asRoot ? { uid: 65534, gid: 65534 } : undefined;

let dir: string;
let source: string;
let home: string;
let runLog: string;

interface InstallOptions {
  /** HTTPAGENT_ENROLL_TOKEN; '' leaves it unset. */
  envToken?: string;
  stdin?: string;
  from?: string;
}

function install(prefix: string, args: string[] = [], o: InstallOptions = {}) {
  const token = o.envToken ?? ENROLL_TOKEN;
  return runInstall({
    args: ['--prefix', prefix, '--no-service', '--source', o.from ?? source, ...args],
    as: nobody, // without root, as the issue asks: the tests themselves run as root in CI containers
    env: { HOME: home, HTTPAGENT_INSTALL_NO_GIT: '1', ...(token ? { HTTPAGENT_ENROLL_TOKEN: token } : {}) },
    ...(o.stdin !== undefined ? { stdin: o.stdin } : {}),
  });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'httpagent-install-'));
  chmodSync(dir, 0o755);
  runLog = join(dir, 'runs.log');
  writeFileSync(runLog, '');
  chmodSync(runLog, 0o666);
  source = join(dir, 'source');
  makeStubSource(source, { runLog, enrollToken: ENROLL_TOKEN });
  home = join(dir, 'home');
  mkdirSync(home);
  mkdirSync(join(dir, 'inst'));
  if (asRoot) {
    chownSync(home, 65534, 65534);
    chownSync(join(dir, 'inst'), 65534, 65534);
  }
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

// Each install runs npm ci, build and prune (of a package without dependencies): seconds each, more under load.
describe('install.sh --no-service into a user-owned prefix', { timeout: 300_000 }, () => {
  // Each test has a prefix of its own, installed into first where it needs an installation.
  let n = 0;
  const freshPrefix = () => join(dir, 'inst', `httpagent-${++n}`);
  const installed = async () => {
    const p = freshPrefix();
    const r = await install(p);
    expect(r.code, r.out).toBe(0);
    return p;
  };

  it('--dry-run on a fresh host changes nothing', async () => {
    const p = freshPrefix();
    const r = await install(p, ['--dry-run']);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/would build/);
    expect(existsSync(p)).toBe(false);
  });

  it('installs: numbered steps, a release, current, a config without tokens, a 0600 enrollment token file, no secret printed', async () => {
    const p = freshPrefix();
    const r = await install(p);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/^\[1\] checking requirements$/m);
    expect(r.out).toMatch(/^\[11\] install manifest$/m);
    expect(r.out).not.toContain(ENROLL_TOKEN);
    const current = readlinkSync(join(p, 'current'));
    expect(current).toMatch(/^releases\/9\.9\.9-[0-9a-f]{12}$/);
    expect(existsSync(join(p, current, 'dist/src/bin/httpagent.js'))).toBe(true);
    const config = join(p, 'etc/httpagent.yaml');
    expect(statSync(config).mode & 0o777).toBe(0o600);
    const text = readFileSync(config, 'utf8');
    expect(text).toContain(`stateDir: "${p}/var"`);
    expect(text).toContain(`enrollTokenFile: "${p}/var/enroll-token"`);
    expect(text).toMatch(/^drainGraceSec: 30$/m);
    expect(text).not.toMatch(/agentToken|platformToken|taskUser/);
    expect(text).not.toContain(ENROLL_TOKEN);
    // In the agent's own state dir, so the agent can delete it once enrolled.
    const token = join(p, 'var/enroll-token');
    expect(statSync(token).mode & 0o777).toBe(0o600);
    expect(readFileSync(token, 'utf8').trim()).toBe(ENROLL_TOKEN);
    expect(readdirSync(join(p, 'releases')).filter((e) => e.startsWith('.'))).toEqual([]);
    expect(readdirSync(join(p, 'var')).filter((e) => e.includes('install-backup'))).toEqual([]);
    if (asRoot) expect(statSync(config).uid).toBe(65534);
    // `httpagent` on the PATH: <prefix>/bin without root, running the current release.
    const bin = join(p, 'bin/httpagent');
    expect(statSync(bin).mode & 0o777).toBe(0o755);
    const version = await new Promise<string>((resolve, reject) => execFile(bin, ['--version'], (err, stdout) => (err ? reject(err) : resolve(stdout))));
    expect(version.trim()).toBe('9.9.9');
  });

  it('a second run changes nothing and says so', async () => {
    const p = await installed();
    const before = snapshot(p);
    const r = await install(p);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/nothing changed/);
    expect(snapshotDiff(before, snapshot(p))).toEqual([]);
  });

  it('--dry-run with a new setting says what would change and changes nothing', async () => {
    const p = await installed();
    const before = snapshot(p);
    const r = await install(p, ['--dry-run', '--labels', 'rack=r7']);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/would write config/);
    expect(r.out).toMatch(/1 change\(s\) would be made/);
    expect(snapshotDiff(before, snapshot(p))).toEqual([]);
  });

  it('a failing build leaves nothing half-done', async () => {
    const p = await installed();
    const before = snapshot(p);
    const broken = join(dir, 'broken');
    makeStubSource(broken, { runLog, enrollToken: ENROLL_TOKEN, buildOk: false });
    // A new token too: the token file it replaced must come back.
    const r = await install(p, ['--labels', 'rack=r8'], { from: broken, envToken: `${ENROLL_TOKEN}-new` });
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/rolled back; the host is as it was/);
    expect(snapshotDiff(before, snapshot(p))).toEqual([]);
    // And on a fresh prefix: no directory is left at all.
    const fresh = freshPrefix();
    expect((await install(fresh, [], { from: broken })).code).not.toBe(0);
    expect(existsSync(fresh)).toBe(false);
  });

  it('takes the enrollment token from a file or stdin; refuses every secret as a flag before changing anything', async () => {
    const viaStdin = freshPrefix();
    const r = await install(viaStdin, ['--enroll-token-file', '-'], { envToken: '', stdin: `${ENROLL_TOKEN}\n` });
    expect(r.code, r.out).toBe(0);
    expect(r.out).not.toContain(ENROLL_TOKEN);
    expect(readFileSync(join(viaStdin, 'var/enroll-token'), 'utf8').trim()).toBe(ENROLL_TOKEN);

    const file = join(dir, 'token-file');
    writeFileSync(file, `${ENROLL_TOKEN}\n`, { mode: 0o644 });
    const viaFile = freshPrefix();
    const f = await install(viaFile, ['--enroll-token-file', file], { envToken: '' });
    expect(f.code, f.out).toBe(0);
    expect(readFileSync(join(viaFile, 'var/enroll-token'), 'utf8').trim()).toBe(ENROLL_TOKEN);

    for (const flag of ['--agent-token', '--platform-token', '--enroll-token', '--smtp-url']) {
      const fresh = freshPrefix();
      const bad = await install(fresh, [flag, 'a-secret-that-ps-would-show-0123456789']);
      expect(bad.code, flag).toBe(2);
      expect(bad.out).toMatch(/secrets never go on the command line/);
      expect(bad.out).not.toContain('a-secret-that-ps-would-show');
      expect(existsSync(fresh)).toBe(false);
    }
    const short = freshPrefix();
    const s = await install(short, [], { envToken: 'short' });
    expect(s.code).not.toBe(0);
    expect(s.out).toMatch(/enrollment token must be 16-512 printable characters/);
    expect(existsSync(short)).toBe(false);
  });

  it('an enrolled host needs no token and gets none written', async () => {
    const p = await installed();
    rmSync(join(p, 'var/enroll-token'));
    writeFileSync(join(p, 'var/credential'), 'ha1:x:secret\n', { mode: 0o600 });
    const r = await install(p, [], { envToken: '' });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/enrollment token: not needed \(enrolled\)/);
    expect(existsSync(join(p, 'var/enroll-token'))).toBe(false);
  });

  it('--uninstall removes what the manifest lists and keeps the logs; --purge removes those too', async () => {
    const p = await installed();
    writeFileSync(join(p, 'log', 'agent.log'), 'a line\n');
    const r = await install(p, ['--uninstall']);
    expect(r.code, r.out).toBe(0);
    // The manifest stays, listing only what was kept, for a later --purge.
    expect(readdirSync(p).sort()).toEqual(['.install-manifest', 'log']);
    expect(readFileSync(join(p, '.install-manifest'), 'utf8')).toMatch(/^log .*\/log$/m);
    const purged = await install(p, ['--uninstall', '--purge']);
    expect(purged.code, purged.out).toBe(0);
    expect(existsSync(p)).toBe(false);
  });
});
