// install.sh into a temp prefix without root (as `nobody` when the tests run as root), from a stub source
// tree with the release layout so npm ci/build/prune run for real in seconds: fresh install, a second run
// that changes nothing, --dry-run, a failing build that leaves nothing, enrollment with the token on
// stdin, refused secrets on the command line, uninstall.
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeStubSource, runInstall, runLines, snapshot, snapshotDiff } from './install-helpers.js';

const ENROLL_TOKEN = 'install-enroll-token-0123456789-abcdef';
const asRoot = process.getuid?.() === 0;
const nobody = asRoot ? { uid: 65534, gid: 65534 } : undefined;
/** An install builds a release with npm: tens of seconds on a busy two-core host. */
const LONG = 240_000;

let dir: string;
let source: string;
let home: string;
let runLog: string;

function install(prefix: string, args: string[] = [], stdin?: string) {
  return runInstall({
    args: ['--prefix', prefix, '--no-service', '--source', source, ...args],
    as: nobody, // without root, as the issue asks: the tests themselves run as root in CI containers
    env: { HOME: home, HTTPAGENT_INSTALL_NO_GIT: '1' },
    ...(stdin !== undefined ? { stdin } : {}),
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

describe('install.sh --no-service into a user-owned prefix', () => {
  const prefix = () => join(dir, 'inst', 'httpagent');

  it('--dry-run on a fresh host changes nothing', { timeout: LONG }, async () => {
    const r = await install(prefix(), ['--dry-run']);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/would build/);
    expect(existsSync(prefix())).toBe(false);
  });

  it('installs: numbered steps, a release, current, a 0600 config without tokens', { timeout: LONG }, async () => {
    const r = await install(prefix());
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/^\[1\] checking requirements$/m);
    expect(r.out).toMatch(/^\[11\] install manifest$/m);
    const current = readlinkSync(join(prefix(), 'current'));
    expect(current).toMatch(/^releases\/9\.9\.9-[0-9a-f]{12}$/);
    expect(existsSync(join(prefix(), current, 'dist/src/bin/httpagent.js'))).toBe(true);
    const config = join(prefix(), 'etc/httpagent.yaml');
    expect(statSync(config).mode & 0o777).toBe(0o600);
    const text = readFileSync(config, 'utf8');
    expect(text).toContain(`stateDir: "${prefix()}/var"`);
    expect(text).toMatch(/^drainGraceSec: 30$/m);
    expect(text).not.toMatch(/agentToken|platformToken/);
    expect(readdirSync(join(prefix(), 'releases')).filter((n) => n.startsWith('.'))).toEqual([]);
    if (asRoot) expect(statSync(config).uid).toBe(65534);
  });

  it('a second run changes nothing and says so', { timeout: LONG }, async () => {
    const before = snapshot(prefix());
    const r = await install(prefix());
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/nothing changed/);
    expect(snapshotDiff(before, snapshot(prefix()))).toEqual([]);
  });

  it('--dry-run with a new setting says what would change and changes nothing', { timeout: LONG }, async () => {
    const before = snapshot(prefix());
    const r = await install(prefix(), ['--dry-run', '--labels', 'rack=r7']);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/would write config/);
    expect(r.out).toMatch(/1 change\(s\) would be made/);
    expect(snapshotDiff(before, snapshot(prefix()))).toEqual([]);
  });

  it('a failing build leaves nothing half-done', { timeout: 2 * LONG }, async () => {
    const before = snapshot(prefix());
    const broken = join(dir, 'broken');
    makeStubSource(broken, { runLog, enrollToken: ENROLL_TOKEN, buildOk: false });
    const saved = source;
    source = broken;
    try {
      const r = await install(prefix(), ['--labels', 'rack=r8']);
      expect(r.code).not.toBe(0);
      expect(r.out).toMatch(/rolled back; the host is as it was/);
      expect(snapshotDiff(before, snapshot(prefix()))).toEqual([]);
      // And on a fresh prefix: no directory is left at all.
      const fresh = join(dir, 'inst', 'fresh');
      expect((await install(fresh)).code).not.toBe(0);
      expect(existsSync(fresh)).toBe(false);
    } finally {
      source = saved;
    }
  });

  it('refuses secrets on the command line before changing anything', async () => {
    for (const flag of ['--agent-token', '--platform-token', '--smtp-url']) {
      const fresh = join(dir, 'inst', 'flag');
      const r = await install(fresh, [flag, 'a-secret-that-ps-would-show-0123456789']);
      expect(r.code, flag).toBe(2);
      expect(r.out).toMatch(/secrets never go on the command line/);
      expect(existsSync(fresh)).toBe(false);
    }
  });

  it('enrolls with the token on stdin; it lands in no file and no command line', { timeout: 2 * LONG }, async () => {
    const p = join(dir, 'inst', 'enrolled');
    const r = await install(p, ['--enroll-token-file', '-'], `${ENROLL_TOKEN}\n`);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/enrolled agent/);
    expect(r.out).not.toContain(ENROLL_TOKEN);
    const cred = join(p, 'var/credential');
    expect(readFileSync(cred, 'utf8')).toMatch(/^ha1:/);
    expect(statSync(cred).mode & 0o777).toBe(0o600);
    expect(Object.keys(snapshot(p)).filter((k) => readIfFile(join(p, k)).includes(ENROLL_TOKEN))).toEqual([]);
    expect(runLines(runLog).filter((l) => l.includes('--enroll-only'))).toEqual([expect.stringMatching(/agent --enroll-only --enroll-token-file - --config /)]);
    expect(runLines(runLog).join('\n')).not.toContain(ENROLL_TOKEN);
    // A wrong token is the controller's 401: exit 4 of the agent, said plainly, nothing left.
    const refused = join(dir, 'inst', 'refused');
    const bad = await install(refused, ['--enroll-token-file', '-'], 'not-the-enrollment-token-0123456789\n');
    expect(bad.code).not.toBe(0);
    expect(bad.out).toMatch(/the controller refused the enrollment token/);
    expect(existsSync(refused)).toBe(false);
  });

  it('--uninstall removes what the manifest lists and keeps the logs; --purge removes those too', { timeout: LONG }, async () => {
    writeFileSync(join(prefix(), 'log', 'agent.log'), 'a line\n');
    const r = await install(prefix(), ['--uninstall']);
    expect(r.code, r.out).toBe(0);
    // The manifest stays, listing only what was kept, for a later --purge.
    expect(readdirSync(prefix()).sort()).toEqual(['.install-manifest', 'log']);
    expect(readFileSync(join(prefix(), '.install-manifest'), 'utf8')).toMatch(/^log .*\/log$/m);
    const p = await install(prefix(), ['--uninstall', '--purge']);
    expect(p.code, p.out).toBe(0);
    expect(existsSync(prefix())).toBe(false);
  });
});

function readIfFile(p: string): string {
  try {
    return statSync(p).isFile() ? readFileSync(p, 'utf8') : '';
  } catch {
    return '';
  }
}
