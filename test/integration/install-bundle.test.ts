// Installing one host from a bundle with the network cut off (`unshare -n`: no registry, no DNS, nothing
// but loopback): release-tool.js unpack-bundle, the step install.sh --bundle runs, verifies, unpacks and
// self-tests the release, and the installed agent starts; a bundle refused leaves the prefix as it was.
// Then install.sh --bundle itself, taken out of the bundle as an operator does (README, Operations): it
// installs a working release offline, and refuses a tampered bundle before it changes anything.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packBundle } from '../../src/ops/bundle-pack.js';
import { currentRelease, releaseLayout } from '../../src/ops/release-layout.js';
import { newSigningKey, replaceInBundle, writeAllowedSigners } from '../helpers/bundles.js';
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

  it('install.sh --bundle FILE installs with no registry and no build', async () => {
    // The operator's way: the installer comes out of the bundle itself.
    const installer = await unpackedInstaller();
    const prefix = join(dir, 'installed');
    const { stdout } = await offline(installer, ['--prefix', prefix, '--no-service', '--bundle', signed, '--allowed-signers', signers]);
    expect(stdout).toMatch(new RegExp(`installed httpagent ${NAME} at `));
    const layout = releaseLayout(prefix);
    expect(currentRelease(layout)).toBe(join(layout.releasesDir, NAME));
    expect(existsSync(join(layout.releasesDir, NAME, '.release-ok'))).toBe(true);
    const version = await offline(process.execPath, [join(prefix, 'current', 'dist', 'src', 'bin', 'httpagent.js'), '--version']);
    expect(version.stdout).toMatch(/0\.1\.0/);
    // The installed command runs the release, and the agent accepts the config install.sh wrote.
    await offline(join(prefix, 'bin', 'httpagent'), ['agent', '--self-test', '--config', join(prefix, 'etc', 'httpagent.yaml')]);
    expect(readFileSync(join(prefix, '.install-manifest'), 'utf8')).toContain(`dir ${join(prefix, 'releases')}`);
    // Again with the same bundle: verified again, the release kept, nothing changed.
    const again = await offline(installer, ['--prefix', prefix, '--no-service', '--bundle', signed, '--allowed-signers', signers]);
    expect(again.stdout).toMatch(new RegExp(`nothing changed: httpagent ${NAME} is installed`));
  }, 240_000);

  it('install.sh --bundle URL downloads the bundle (over loopback) and installs it', async () => {
    const installer = await unpackedInstaller();
    const server = createServer((req, res) => {
      if (req.url !== '/httpagent.tar.gz') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': statSync(signed).size });
      createReadStream(signed).pipe(res);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as AddressInfo;
      const prefix = join(dir, 'from-url');
      await run(installer, ['--prefix', prefix, '--no-service', '--bundle', `http://127.0.0.1:${port}/httpagent.tar.gz`, '--allowed-signers', signers], { env, timeout: 240_000 });
      const layout = releaseLayout(prefix);
      expect(currentRelease(layout)).toBe(join(layout.releasesDir, NAME));
      expect(existsSync(join(layout.releasesDir, NAME, '.release-ok'))).toBe(true);
    } finally {
      server.close();
      server.closeAllConnections();
    }
  }, 240_000);

  it('install.sh --bundle refuses a tampered bundle and changes nothing', async () => {
    const installer = await unpackedInstaller();
    const bad = join(dir, 'tampered.tar.gz');
    // One byte of install.sh changed inside the tar: the signed manifest's sha256 no longer matches.
    replaceInBundle(signed, bad, 'httpagent installer for Debian/Ubuntu hosts', 'httpagent installer for Debian/Ubuntu hostz');
    const prefix = join(dir, 'tampered-prefix');
    const err = await offline(installer, ['--prefix', prefix, '--no-service', '--bundle', bad, '--allowed-signers', signers]).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).not.toBe(0);
    expect(err?.stderr).toMatch(/BUNDLE_TAMPERED/);
    expect(existsSync(prefix)).toBe(false);
  }, 240_000);
});

let installerDir: string | undefined;
/** install.sh as the operator gets it: out of the (good) bundle, with the release tools beside it. */
async function unpackedInstaller(): Promise<string> {
  if (!installerDir) {
    installerDir = join(dir, 'unpacked');
    mkdirSync(installerDir);
    await run('tar', ['-xzf', signed, '-C', installerDir]);
  }
  return join(installerDir, 'install.sh');
}
