// Installing one host from a bundle with the network cut off (`unshare -n`: no registry, no DNS, nothing
// but loopback): release-tool.js unpack-bundle, the step install.sh --bundle runs, verifies, unpacks and
// self-tests the release, and the installed agent starts; a bundle refused leaves the prefix as it was.
// install.sh's own --bundle flag is tested here too once it exists (it lands with the install branch).
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packBundle } from '../../src/ops/bundle-pack.js';
import { currentRelease, releaseLayout } from '../../src/ops/release-layout.js';
import { newSigningKey, writeAllowedSigners } from '../helpers/bundles.js';
import { repoRoot } from '../helpers/processes.js';
import { quickRelease } from '../helpers/quick-release.js';

const run = promisify(execFile);
const COMMIT = 'e'.repeat(40);
const NAME = COMMIT.slice(0, 12);

let dir: string;
let signed: string;
let unsigned: string;
let signers: string;
/** What a host has before the install: no npm settings, no network; the self-test needs an enrollment token to judge. */
let env: Record<string, string>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'httpagent-install-bundle-'));
  const key = await newSigningKey(dir, 'release-key');
  signers = writeAllowedSigners(join(dir, 'allowed_signers'), [key]);
  const release = await quickRelease(join(dir, 'release'), COMMIT);
  signed = (await packBundle({ releaseDir: release, outDir: join(dir, 'signed'), signingKey: key.key })).file;
  unsigned = (await packBundle({ releaseDir: release, outDir: join(dir, 'unsigned') })).file;
  rmSync(release, { recursive: true, force: true });
  env = { PATH: process.env.PATH ?? '', HOME: dir, HTTPAGENT_ENROLL_TOKEN: 'install-bundle-enroll-token-0123456789', HTTPAGENT_STATE_DIR: join(dir, 'state') };
}, 180_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** `cmd args` in a network namespace of its own: loopback down, no route anywhere. */
function offline(cmd: string, args: string[]) {
  return run('unshare', ['-n', cmd, ...args], { env, timeout: 240_000 });
}

describe('a host installed from a bundle, offline', () => {
  it('release-tool.js unpack-bundle verifies, unpacks and self-tests it with no network, and the agent runs', async () => {
    const prefix = join(dir, 'prefix');
    const tool = join(repoRoot, 'src', 'bin', 'release-tool.js');
    const { stdout } = await offline(process.execPath, [tool, 'unpack-bundle', '--bundle', signed, '--prefix', prefix, '--allowed-signers', signers]);
    expect(stdout.trim().split('\t')).toEqual([NAME, COMMIT, '0.1.0', 'no']);
    await offline(process.execPath, [tool, 'switch', '--prefix', prefix, '--to', NAME]);
    const layout = releaseLayout(prefix);
    expect(currentRelease(layout)).toBe(join(layout.releasesDir, NAME));
    expect(existsSync(join(layout.releasesDir, NAME, '.release-ok'))).toBe(true);
    const version = await offline(process.execPath, [join(prefix, 'current', 'dist', 'src', 'bin', 'httpagent.js'), '--version']);
    expect(version.stdout).toMatch(/0\.1\.0/);
    // The same bundle again: the release on disk is kept (after the file was verified again).
    const again = await offline(process.execPath, [tool, 'unpack-bundle', '--bundle', signed, '--prefix', prefix, '--allowed-signers', signers]);
    expect(again.stdout.trim().split('\t')[3]).toBe('yes');
  }, 240_000);

  it('an unsigned bundle where signers are required is refused, the prefix untouched', async () => {
    const prefix = join(dir, 'refusing');
    mkdirSync(join(prefix, 'releases'), { recursive: true });
    const tool = join(repoRoot, 'src', 'bin', 'release-tool.js');
    const err = await offline(process.execPath, [tool, 'unpack-bundle', '--bundle', unsigned, '--prefix', prefix, '--allowed-signers', signers]).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(1);
    expect(err?.stderr).toMatch(/BUNDLE_UNSIGNED/);
    expect(readdirSync(join(prefix, 'releases'))).toEqual([]);
  });

  it('install.sh --bundle FILE installs with no registry and no build', async (ctx) => {
    // Detected, not assumed: the flag is added to install.sh by the install branch.
    if (!/--bundle\)/.test(readFileSync(join(repoRoot, 'install.sh'), 'utf8'))) return ctx.skip('install.sh --bundle lands with the install branch');
    // The operator's way: the installer comes out of the bundle itself.
    const unpacked = join(dir, 'unpacked');
    mkdirSync(unpacked);
    await run('tar', ['-xzf', signed, '-C', unpacked]);
    const prefix = join(dir, 'installed');
    await offline(join(unpacked, 'install.sh'), ['--prefix', prefix, '--no-service', '--bundle', signed, '--allowed-signers', signers]);
    const layout = releaseLayout(prefix);
    expect(currentRelease(layout)).toBe(join(layout.releasesDir, NAME));
    expect(existsSync(join(layout.releasesDir, NAME, '.release-ok'))).toBe(true);
    const version = await offline(process.execPath, [join(prefix, 'current', 'dist', 'src', 'bin', 'httpagent.js'), '--version']);
    expect(version.stdout).toMatch(/0\.1\.0/);
  }, 240_000);
});
