// The bundle verifier against real tarballs and real ssh-keygen keys: a signed bundle unpacks to exactly
// its release (long paths, modes, symlinks), tar(1) reads it too, and each bad input the issue names is
// refused with its code and nothing left behind: half-downloaded, tampered, unsigned, signed by another
// key or for another use, for another architecture, not a bundle, an entry escaping the directory.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packBundle } from '../../src/ops/bundle-pack.js';
import { BundleError, MANIFEST_NAME } from '../../src/shared/bundle/bundle-manifest.js';
import { readBundle } from '../../src/shared/bundle/bundle-reader.js';
import { END_OF_ARCHIVE, entryHeader, padding } from '../../src/shared/bundle/tar-format.js';
import { bundleTar, newSigningKey, replaceInBundle, syntheticRelease, writeAllowedSigners, writeGzip, type SigningKey } from '../helpers/bundles.js';
import { repoRoot } from '../helpers/processes.js';

const run = promisify(execFile);

let dir: string;
let release: string;
let trusted: SigningKey;
let stranger: SigningKey;
let signers: string;
let signed: string;
let unsigned: string;

async function refusal(file: string, opts: Parameters<typeof readBundle>[1] = {}): Promise<string> {
  try {
    await readBundle(file, opts);
  } catch (err) {
    if (err instanceof BundleError) return err.code;
    throw err;
  }
  throw new Error(`${file} was accepted`);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'httpagent-bundle-verify-'));
  release = syntheticRelease(join(dir, 'release'));
  trusted = await newSigningKey(dir, 'release-key');
  stranger = await newSigningKey(dir, 'stranger-key');
  signers = writeAllowedSigners(join(dir, 'allowed_signers'), [trusted]);
  signed = (await packBundle({ releaseDir: release, outDir: join(dir, 'signed'), signingKey: trusted.key })).file;
  unsigned = (await packBundle({ releaseDir: release, outDir: join(dir, 'unsigned') })).file;
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('a good bundle', () => {
  it('is named for its version, commit and architecture, and tar(1) lists it', async () => {
    expect(signed.endsWith(`httpagent-9.8.7-c0ffee000000-linux-${process.arch}.tar.gz`)).toBe(true);
    const { stdout } = await run('tar', ['-tzf', signed]);
    const names = stdout.trim().split('\n');
    expect(names.slice(0, 2)).toEqual([MANIFEST_NAME, `${MANIFEST_NAME}.sig`]);
    expect(names.some((n) => n.endsWith('file-whose-path-is-longer-than-one-hundred-bytes.js'))).toBe(true);
    expect(names).not.toContain('.release-ok');
  });

  it('unpacks signed to exactly the release: contents, modes and symlinks', async () => {
    const dest = join(dir, 'out-good');
    const info = await readBundle(signed, { dest, allowedSigners: signers });
    expect(info.signedBy).toBe('release-key@release.test');
    expect(info.manifest.commit).toBe('c0ffee'.padEnd(40, '0'));
    expect(info.sha256).toBe(createHash('sha256').update(readFileSync(signed)).digest('hex'));
    expect(readFileSync(join(dest, 'scripts', 'payload.txt'), 'utf8')).toBe('the original payload\n');
    expect(statSync(join(dest, 'scripts', 'task')).mode & 0o777).toBe(0o755);
    expect(statSync(join(dest, 'scripts', 'payload.txt')).mode & 0o777).toBe(0o644);
    expect(lstatSync(join(dest, 'dist', '.bin', 'deep')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(dest, 'dist', '.bin', 'deep'), 'utf8')).toBe('module.exports = "deep";\n');
    expect(readlinkSync(join(dest, 'dist', '.bin', 'deep')).startsWith('../')).toBe(true);
  });

  it('unsigned passes where no allowed signers are configured', async () => {
    const info = await readBundle(unsigned);
    expect(info.signed).toBe(false);
  });
});

describe('bad input is refused whole, with its code', () => {
  it('a half-downloaded bundle: BUNDLE_TRUNCATED, and the staging directory is gone', async () => {
    const bytes = readFileSync(signed);
    const half = join(dir, 'half.tar.gz');
    writeFileSync(half, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const dest = join(dir, 'out-half');
    expect(await refusal(half, { dest, allowedSigners: signers })).toBe('BUNDLE_TRUNCATED');
    expect(existsSync(dest)).toBe(false);
    // Cut inside the gzip trailer only: every tar byte is there, the file is still not whole.
    const tail = join(dir, 'tail.tar.gz');
    writeFileSync(tail, bytes.subarray(0, bytes.length - 3));
    expect(await refusal(tail)).toBe('BUNDLE_TRUNCATED');
  });

  it('a file changed inside the bundle: BUNDLE_TAMPERED', async () => {
    const bad = join(dir, 'tampered.tar.gz');
    replaceInBundle(unsigned, bad, 'the original payload', 'the attacker payload');
    const dest = join(dir, 'out-tampered');
    expect(await refusal(bad, { dest })).toBe('BUNDLE_TAMPERED');
    expect(existsSync(dest)).toBe(false);
  });

  it('a file changed and its manifest hash with it: passes unsigned, BUNDLE_BAD_SIGNATURE signed', async () => {
    const oldSha = createHash('sha256').update('the original payload\n').digest('hex');
    const newSha = createHash('sha256').update('the attacker payload\n').digest('hex');
    const both = (src: string, out: string) => {
      replaceInBundle(src, out, 'the original payload', 'the attacker payload');
      replaceInBundle(out, out, oldSha, newSha);
    };
    both(unsigned, join(dir, 'rehashed-unsigned.tar.gz'));
    await readBundle(join(dir, 'rehashed-unsigned.tar.gz'));
    both(signed, join(dir, 'rehashed-signed.tar.gz'));
    expect(await refusal(join(dir, 'rehashed-signed.tar.gz'), { allowedSigners: signers })).toBe('BUNDLE_BAD_SIGNATURE');
  });

  it('unsigned where signers are configured: BUNDLE_UNSIGNED, before any file is written', async () => {
    const dest = join(dir, 'out-unsigned');
    expect(await refusal(unsigned, { dest, allowedSigners: signers })).toBe('BUNDLE_UNSIGNED');
    expect(existsSync(dest)).toBe(false);
  });

  it('signed by a key not in the allowed signers: BUNDLE_BAD_SIGNATURE', async () => {
    const other = (await packBundle({ releaseDir: release, outDir: join(dir, 'stranger'), signingKey: stranger.key })).file;
    expect(await refusal(other, { allowedSigners: signers })).toBe('BUNDLE_BAD_SIGNATURE');
  });

  it('signed by a trusted key for git, not for releases: BUNDLE_BAD_SIGNATURE', async () => {
    // The signature of the very manifest, made in the git namespace (what signing a commit makes).
    const tar = bundleTar(unsigned);
    const manifestSize = parseInt(tar.toString('ascii', 124, 135), 8);
    const manifest = tar.subarray(512, 512 + manifestSize);
    writeFileSync(join(dir, 'm'), manifest);
    await run('ssh-keygen', ['-q', '-Y', 'sign', '-n', 'git', '-f', trusted.key, join(dir, 'm')]);
    const sig = readFileSync(join(dir, 'm.sig'));
    const head = tar.subarray(0, 512 + manifestSize + padding(manifestSize).length);
    const rest = tar.subarray(head.length);
    const forged = Buffer.concat([head, entryHeader({ path: `${MANIFEST_NAME}.sig`, type: 'file', mode: 0o644, size: sig.length }), sig, padding(sig.length), rest]);
    writeGzip(join(dir, 'git-signed.tar.gz'), forged);
    expect(await refusal(join(dir, 'git-signed.tar.gz'), { allowedSigners: signers })).toBe('BUNDLE_BAD_SIGNATURE');
  });

  it('a bundle for another architecture: BUNDLE_WRONG_ARCH, nothing written', async () => {
    const otherArch = process.arch === 'arm64' ? 'x64' : 'arm64';
    const file = (await packBundle({ releaseDir: release, outDir: join(dir, 'arch'), arch: otherArch, signingKey: trusted.key })).file;
    const dest = join(dir, 'out-arch');
    expect(await refusal(file, { dest, allowedSigners: signers })).toBe('BUNDLE_WRONG_ARCH');
    expect(existsSync(dest)).toBe(false);
    // The controller stores bundles for every architecture.
    await readBundle(file, { arch: null, allowedSigners: signers });
  });

  it('not a bundle at all: BUNDLE_MALFORMED', async () => {
    writeFileSync(join(dir, 'html.tar.gz'), '<html>502 Bad Gateway</html>\n');
    expect(await refusal(join(dir, 'html.tar.gz'))).toBe('BUNDLE_MALFORMED');
    // A gzipped tar without a manifest first.
    await run('tar', ['-czf', join(dir, 'plain.tar.gz'), '-C', release, 'scripts']);
    expect(await refusal(join(dir, 'plain.tar.gz'))).toBe('BUNDLE_MALFORMED');
  });

  it('an entry that climbs out of the directory: BUNDLE_TAMPERED, nothing written outside', async () => {
    const tar = bundleTar(unsigned);
    const body = tar.subarray(0, tar.length - END_OF_ARCHIVE.length);
    const evil = Buffer.from('pwned\n');
    const escaped = Buffer.concat([body, entryHeader({ path: '../escaped', type: 'file', mode: 0o644, size: evil.length }), evil, padding(evil.length), END_OF_ARCHIVE]);
    writeGzip(join(dir, 'escape.tar.gz'), escaped);
    const dest = join(dir, 'out-escape');
    expect(await refusal(join(dir, 'escape.tar.gz'), { dest })).toBe('BUNDLE_TAMPERED');
    expect(existsSync(join(dir, 'escaped'))).toBe(false);
  });

  it('larger than the bound: BUNDLE_TOO_LARGE', async () => {
    expect(await refusal(unsigned, { maxBytes: 100 })).toBe('BUNDLE_TOO_LARGE');
  });

  it('release-tool.js bundle packs a built release, one line per phase off a terminal, the file last', async () => {
    const tool = join(repoRoot, 'src', 'bin', 'release-tool.js');
    const out = join(dir, 'cli-out');
    const { stdout } = await run(process.execPath, [tool, 'bundle', '--source', repoRoot, '--out', out, '--release', release, '--sign-key', trusted.key]);
    const lines = stdout.trim().split('\n');
    expect(lines.slice(0, 3)).toEqual(['hashing', 'signing', 'writing']);
    expect(lines).toHaveLength(5);
    expect(lines[4]).toBe(join(out, `httpagent-9.8.7-c0ffee000000-linux-${process.arch}.tar.gz`));
    expect((await readBundle(lines[4]!, { allowedSigners: signers })).signedBy).toBe('release-key@release.test');
  });

  it('release-tool.js verify-bundle prints the code and exits non-zero', async () => {
    const tool = join(repoRoot, 'src', 'bin', 'release-tool.js');
    const ok = await run(process.execPath, [tool, 'verify-bundle', '--bundle', signed, '--allowed-signers', signers]);
    expect(ok.stdout.split('\t').slice(0, 2)).toEqual(['9.8.7-c0ffee000000', 'c0ffee'.padEnd(40, '0')]);
    const err = await run(process.execPath, [tool, 'verify-bundle', '--bundle', unsigned, '--allowed-signers', signers]).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(1);
    expect(err?.stderr).toMatch(/BUNDLE_UNSIGNED/);
  });
});
