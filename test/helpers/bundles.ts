// Release bundles for tests: real SSH signing keys made by ssh-keygen with their allowed-signers file,
// small synthetic releases to pack (for the verifier's bad-input cases), and ways to damage a real
// bundle the way a network, a disk or an attacker would.
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';
import { RELEASE_OK } from '../../src/ops/release-layout.js';

const run = promisify(execFile);

export interface SigningKey {
  /** The private key file (no passphrase). */
  key: string;
  /** `principal ssh-ed25519 AAAA...`: one line of an allowed-signers file. */
  signerLine: string;
}

/** A fresh ed25519 key made by ssh-keygen, under `dir/name`. */
export async function newSigningKey(dir: string, name: string): Promise<SigningKey> {
  const key = join(dir, name);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', key]);
  const pub = readFileSync(`${key}.pub`, 'utf8').trim().split(' ');
  return { key, signerLine: `${name}@release.test ${pub[0]} ${pub[1]}` };
}

/** An allowed-signers file trusting the given keys, the format git's gpg.ssh.allowedSignersFile takes. */
export function writeAllowedSigners(file: string, keys: SigningKey[]): string {
  writeFileSync(file, keys.map((k) => k.signerLine).join('\n') + '\n');
  return file;
}

/**
 * A small release directory as packBundle takes it (COMMIT, package.json, RELEASE_OK), with what makes
 * tar hard: a path past ustar's 100 bytes, an executable, a relative symlink, nested directories.
 */
export function syntheticRelease(dir: string, commit = 'c0ffee'.padEnd(40, '0')): string {
  mkdirSync(join(dir, 'dist', 'src', 'bin'), { recursive: true });
  writeFileSync(join(dir, 'COMMIT'), `${commit}\n`);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'httpagent', version: '9.8.7' }));
  writeFileSync(join(dir, 'dist', 'src', 'bin', 'httpagent.js'), 'console.log("release")\n');
  const deep = join(dir, 'dist', 'a-package-with-a-rather-long-name', 'lib', 'and-a-directory-nested-deeply', 'inside-another-one');
  mkdirSync(deep, { recursive: true });
  writeFileSync(join(deep, 'file-whose-path-is-longer-than-one-hundred-bytes.js'), 'module.exports = "deep";\n');
  mkdirSync(join(dir, 'dist', '.bin'), { recursive: true });
  symlinkSync('../a-package-with-a-rather-long-name/lib/and-a-directory-nested-deeply/inside-another-one/file-whose-path-is-longer-than-one-hundred-bytes.js', join(dir, 'dist', '.bin', 'deep'));
  mkdirSync(join(dir, 'scripts'));
  writeFileSync(join(dir, 'scripts', 'task'), '#!/bin/sh\necho task\n');
  chmodSync(join(dir, 'scripts', 'task'), 0o755);
  writeFileSync(join(dir, 'scripts', 'payload.txt'), 'the original payload\n');
  writeFileSync(join(dir, RELEASE_OK), '');
  return dir;
}

/** The bundle's bytes with `from` replaced by `to` (same length) inside the tar, gzipped again. */
export function replaceInBundle(file: string, out: string, from: string, to: string): void {
  if (Buffer.byteLength(from) !== Buffer.byteLength(to)) throw new Error('replaceInBundle keeps lengths equal');
  const tar = gunzipSync(readFileSync(file));
  const at = tar.indexOf(from);
  if (at < 0) throw new Error(`${from} is not in ${file}`);
  Buffer.from(to).copy(tar, at);
  writeFileSync(out, gzipSync(tar));
}

/** The tar inside a bundle, and a way to gzip a changed one back. */
export function bundleTar(file: string): Buffer {
  return gunzipSync(readFileSync(file));
}

export function writeGzip(out: string, tar: Buffer): void {
  writeFileSync(out, gzipSync(tar));
}
