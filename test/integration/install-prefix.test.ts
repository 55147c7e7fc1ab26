// install.sh into a temp prefix without root (as `nobody` when the tests run as root), from a small
// source tree with the release layout so npm ci/build/prune run for real in seconds: fresh install,
// a second run that changes nothing, --dry-run, a failing build that leaves nothing, uninstall.
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { offlineNpmEnv } from '../helpers/offline-npm.js';
import { repoRoot } from '../helpers/processes.js';

const ENROLL_TOKEN = 'install-enroll-token-0123456789';
/** What install() passes as HTTPAGENT_ENROLL_TOKEN; a test empties it to see the refusal. */
let enrollToken = ENROLL_TOKEN;
const asRoot = process.getuid?.() === 0;

let dir: string;
let source: string;
let home: string;

function makeSource(root: string, buildOk = true): void {
  mkdirSync(join(root, 'src'), { recursive: true });
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'httpagent', version: '9.9.9', type: 'module', scripts: { build: 'node build.mjs' } }));
  writeFileSync(join(root, 'package-lock.json'), JSON.stringify({ name: 'httpagent', version: '9.9.9', lockfileVersion: 3, requires: true, packages: { '': { name: 'httpagent', version: '9.9.9' } } }));
  writeFileSync(
    join(root, 'build.mjs'),
    buildOk
      ? "import { mkdirSync, copyFileSync } from 'node:fs';\nmkdirSync('dist/src/bin', { recursive: true });\ncopyFileSync('src/httpagent.js', 'dist/src/bin/httpagent.js');\n"
      : "console.error('type error in src/agent.ts'); process.exit(2);\n",
  );
  writeFileSync(
    join(root, 'src/httpagent.js'),
    `import { readFileSync } from 'node:fs';
const [cmd, flag, , file] = process.argv.slice(2);
if (cmd === '--version') { console.log('9.9.9'); process.exit(0); }
if (cmd === 'agent' && flag === '--self-test') process.exit(/enrollTokenFile: "/.test(readFileSync(file, 'utf8')) ? 0 : 1);
process.exit(2);
`,
  );
  cpSync(join(repoRoot, 'supervisor'), join(root, 'supervisor'), { recursive: true });
}

interface Run {
  code: number;
  out: string;
}

function install(prefix: string, ...args: string[]): Promise<Run> {
  return installFrom(source, prefix, ...args);
}

function installFrom(from: string, prefix: string, ...args: string[]): Promise<Run> {
  const cmd = [join(repoRoot, 'install.sh'), '--prefix', prefix, '--no-service', '--source', from, ...args];
  // npm offline: the package has no dependencies, and nothing may reach for a registry (audit, notifier).
  const env = { PATH: process.env.PATH ?? '', HOME: home, HTTPAGENT_ENROLL_TOKEN: enrollToken, ...offlineNpmEnv() };
  // Without root, as the issue asks: the tests themselves run as root in CI containers.
  const [file, argv] = asRoot ? ['setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...cmd]] : [cmd[0]!, cmd.slice(1)];
  return new Promise((resolve) => {
    execFile(file, argv as string[], { env, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, out: stdout + stderr });
    });
  });
}

/** Every path under root with its type, mode, and content hash or link target: what "changed nothing" compares. */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(root)) return out;
  const walk = (p: string) => {
    const st = lstatSync(p);
    const key = relative(root, p) || '.';
    if (st.isSymbolicLink()) out[key] = `link ${readlinkSync(p)}`;
    else if (st.isDirectory()) {
      out[key] = `dir ${st.mode.toString(8)}`;
      for (const e of readdirSync(p)) walk(join(p, e));
    } else out[key] = `file ${st.mode.toString(8)} ${st.mtimeMs} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
  };
  walk(root);
  return out;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'httpagent-install-'));
  chmodSync(dir, 0o755);
  source = join(dir, 'source');
  makeSource(source);
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
    const r = await install(p, '--dry-run');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/would build/);
    expect(existsSync(p)).toBe(false);
  });

  it('installs: numbered steps, a release, current, a config without tokens, a 0600 enrollment token file, no secret printed', async () => {
    const p = freshPrefix();
    const prefix = () => p;
    const r = await install(prefix());
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/^\[1\] checking requirements$/m);
    expect(r.out).toMatch(/^\[5\] /m);
    expect(r.out).not.toContain(ENROLL_TOKEN);
    const current = readlinkSync(join(prefix(), 'current'));
    expect(current).toMatch(/^releases\/9\.9\.9-[0-9a-f]{12}$/);
    expect(existsSync(join(prefix(), current, 'dist/src/bin/httpagent.js'))).toBe(true);
    const config = join(prefix(), 'etc/httpagent.yaml');
    expect(statSync(config).mode & 0o777).toBe(0o600);
    expect(readFileSync(config, 'utf8')).toContain(`enrollTokenFile: "${prefix()}/var/enroll-token"`);
    expect(readFileSync(config, 'utf8')).not.toContain(ENROLL_TOKEN);
    // In the agent's state dir, so the agent can delete it once enrolled.
    expect(statSync(join(prefix(), 'var/enroll-token')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(prefix(), 'var/enroll-token'), 'utf8').trim()).toBe(ENROLL_TOKEN);
    expect(readFileSync(config, 'utf8')).toContain(`stateDir: "${prefix()}/var"`);
    expect(readdirSync(join(prefix(), 'releases')).filter((n) => n.startsWith('.'))).toEqual([]);
    if (asRoot) expect(statSync(config).uid).toBe(65534);
    // `httpagent` on the PATH: <prefix>/bin without root, running the current release.
    const bin = join(prefix(), 'bin/httpagent');
    expect(statSync(bin).mode & 0o777).toBe(0o755);
    const version = await new Promise<string>((resolve, reject) => execFile(bin, ['--version'], (err, stdout) => (err ? reject(err) : resolve(stdout))));
    expect(version.trim()).toBe('9.9.9');
  });

  it('a second run changes nothing and says so', async () => {
    const p = await installed();
    const prefix = () => p;
    const before = snapshot(prefix());
    const r = await install(prefix());
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/nothing changed/);
    expect(snapshot(prefix())).toEqual(before);
  });

  it('--dry-run with a new setting says what would change and changes nothing', async () => {
    const p = await installed();
    const prefix = () => p;
    const before = snapshot(prefix());
    const r = await install(prefix(), '--dry-run', '--labels', 'rack=r7');
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/would write config/);
    expect(r.out).toMatch(/1 change\(s\) would be made/);
    expect(snapshot(prefix())).toEqual(before);
  });

  it('a failing build leaves nothing half-done', async () => {
    const p = await installed();
    const prefix = () => p;
    const before = snapshot(prefix());
    const broken = join(dir, 'broken');
    makeSource(broken, false);
    const r = await installFrom(broken, prefix());
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/rolling back/);
    expect(snapshot(prefix())).toEqual(before);
    // And on a fresh prefix: no directory is left at all.
    const fresh = freshPrefix();
    expect((await installFrom(broken, fresh)).code).not.toBe(0);
    expect(existsSync(fresh)).toBe(false);
  });

  it('rejects a host with neither a credential nor an enrollment token before changing anything', async () => {
    const fresh = freshPrefix();
    enrollToken = '';
    try {
      const r = await install(fresh);
      expect(r.code).not.toBe(0);
      expect(r.out).toMatch(/has not enrolled yet: set HTTPAGENT_ENROLL_TOKEN/);
      expect(existsSync(fresh)).toBe(false);
    } finally {
      enrollToken = ENROLL_TOKEN;
    }
  });

  it('--uninstall removes what it made and keeps the logs; --purge removes those too', async () => {
    const p = await installed();
    const prefix = () => p;
    writeFileSync(join(prefix(), 'log', 'agent.log'), 'a line\n');
    const r = await install(prefix(), '--uninstall');
    expect(r.code, r.out).toBe(0);
    expect(readdirSync(prefix())).toEqual(['log']);
    const purged = await install(prefix(), '--uninstall', '--purge');
    expect(purged.code, purged.out).toBe(0);
    expect(existsSync(prefix())).toBe(false);
  });
});
