// Detached SSH signatures of a bundle's manifest, made and checked by ssh-keygen itself (`-Y sign`,
// `-Y find-principals`, `-Y verify`) against an allowed-signers file: the format git uses for signed
// commits, so one file (updateAllowedSigners) trusts the same keys for git updates and for bundles.
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BundleError, SIGNATURE_NAMESPACE } from './bundle-manifest.js';

const KEYGEN_TIMEOUT_MS = 30_000;

/**
 * @param {string[]} args
 * @param {Buffer | undefined} stdin
 * @returns {Promise<{ code: number | null, stdout: string, output: string }>}
 */
function keygen(args, stdin) {
  return new Promise((resolveRun) => {
    const child = spawn('ssh-keygen', args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: KEYGEN_TIMEOUT_MS, killSignal: 'SIGKILL' });
    let stdout = '';
    let output = '';
    child.stdout.on('data', (/** @type {Buffer} */ c) => {
      stdout += c.toString();
      output = (output + c.toString()).slice(-4000);
    });
    child.stderr.on('data', (/** @type {Buffer} */ c) => (output = (output + c.toString()).slice(-4000)));
    child.stdin.on('error', () => undefined);
    child.once('error', (err) => resolveRun({ code: null, stdout, output: err.message }));
    child.once('close', (code) => resolveRun({ code, stdout, output }));
    child.stdin.end(stdin);
  });
}

/**
 * Signs `data` with the private key in `keyFile`; returns the armored signature.
 * @param {Buffer} data
 * @param {string} keyFile
 * @returns {Promise<Buffer>}
 */
export async function signManifest(data, keyFile) {
  const dir = mkdtempSync(join(tmpdir(), 'httpagent-sign-'));
  try {
    const file = join(dir, 'manifest');
    writeFileSync(file, data);
    // -q: nothing but errors; the key must not ask for a passphrase (no terminal is read here).
    const r = await keygen(['-q', '-Y', 'sign', '-n', SIGNATURE_NAMESPACE, '-f', resolve(keyFile), file], undefined);
    if (r.code !== 0) throw new Error(`ssh-keygen -Y sign with ${keyFile} failed: ${r.output.trim()}`);
    return readFileSync(`${file}.sig`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Throws BUNDLE_BAD_SIGNATURE unless `signature` is a good signature of `data` by a key listed in
 * `allowedSigners` for this namespace; BUNDLE_SIGNERS_UNREADABLE when the file or ssh-keygen is missing.
 * Returns the principal that signed.
 * @param {Buffer} data
 * @param {Buffer} signature
 * @param {string} allowedSigners
 * @returns {Promise<string>}
 */
export async function verifyManifestSignature(data, signature, allowedSigners) {
  const signers = resolve(allowedSigners);
  try {
    accessSync(signers, constants.R_OK);
  } catch (err) {
    throw new BundleError('BUNDLE_SIGNERS_UNREADABLE', `allowed signers ${signers}: ${/** @type {NodeJS.ErrnoException} */ (err).code ?? String(err)}`, err);
  }
  const dir = mkdtempSync(join(tmpdir(), 'httpagent-verify-'));
  try {
    const sig = join(dir, 'manifest.sig');
    writeFileSync(sig, signature);
    // Which listed principal made it: verify needs a name, and find-principals only answers for a key in the file.
    const found = await keygen(['-Y', 'find-principals', '-s', sig, '-f', signers], undefined);
    if (found.code === null) throw new BundleError('BUNDLE_SIGNERS_UNREADABLE', `cannot run ssh-keygen: ${found.output.trim()}`);
    const principal = found.stdout.split('\n')[0]?.trim();
    if (found.code !== 0 || !principal) throw new BundleError('BUNDLE_BAD_SIGNATURE', `the bundle is signed by a key not in ${signers}${found.output.trim() ? ` (${lastLine(found.output)})` : ''}`);
    const r = await keygen(['-Y', 'verify', '-f', signers, '-I', principal, '-n', SIGNATURE_NAMESPACE, '-s', sig], data);
    if (r.code !== 0) throw new BundleError('BUNDLE_BAD_SIGNATURE', `the bundle's signature by ${principal} does not verify: ${lastLine(r.output)}`);
    return principal;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * @param {string} text
 * @returns {string}
 */
function lastLine(text) {
  return text.trim().split('\n').pop()?.slice(0, 300) ?? '';
}
