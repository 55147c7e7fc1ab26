// Reads a release bundle and refuses it whole unless every check passes: it is whole gzip and tar (not cut
// short), the manifest comes first and parses, the signature verifies when allowed signers are given
// (before a single file is written), it is for this platform and architecture, and every entry matches
// the manifest's type, mode, size and sha256 with nothing missing and nothing extra. With `dest` the
// files are written there as they are checked (a staging directory the caller renames only on success;
// it is removed on any refusal); without it the bundle is only checked (the controller's upload).
// Shared by install.sh (src/bin/release-tool.js), the agent's bundle updates and the controller.
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, fchmodSync, mkdirSync, openSync, rmSync, statSync, symlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pipeline, Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { BundleError, MANIFEST_MAX_BYTES, MANIFEST_NAME, SIGNATURE_MAX_BYTES, SIGNATURE_NAME, isSafeRelativePath, parseManifest } from './bundle-manifest.js';
import { verifyManifestSignature } from './ssh-signature.js';
import { TarFormatError, readTar } from './tar-format.js';

/** @typedef {import('./bundle-manifest.js').BundleManifest} BundleManifest */
/** @typedef {import('./bundle-manifest.js').ManifestFile} ManifestFile */

/** A bundle of this project is ~30 MiB; the bounds leave room while stopping a hostile or runaway file. */
export const DEFAULT_BUNDLE_MAX_BYTES = 512 * 1024 * 1024;
export const DEFAULT_UNPACKED_MAX_BYTES = 2 * 1024 * 1024 * 1024;

/**
 * @typedef {object} ReadBundleOptions
 * @property {string} [dest] a directory that does not exist yet: the files go there
 * @property {string} [allowedSigners] an allowed-signers file: an unsigned or badly signed bundle is refused
 * @property {string | null} [arch] the architecture required (default: this process's); null: any (the controller stores bundles for every host)
 * @property {number} [maxBytes] bound on the bundle file
 * @property {number} [maxUnpackedBytes] bound on the sum of its file sizes
 */

/**
 * @typedef {object} BundleInfo
 * @property {BundleManifest} manifest
 * @property {string} sha256 of the whole bundle file, as read
 * @property {number} bytes the bundle file's size
 * @property {boolean} signed
 * @property {string | undefined} signedBy the allowed-signers principal, when the signature was checked
 */

/**
 * @param {string} file
 * @param {ReadBundleOptions} [opts]
 * @returns {Promise<BundleInfo>}
 */
export async function readBundle(file, opts = {}) {
  const maxBytes = opts.maxBytes ?? DEFAULT_BUNDLE_MAX_BYTES;
  const size = statSync(file).size;
  if (size > maxBytes) throw new BundleError('BUNDLE_TOO_LARGE', `the bundle is ${size} bytes, more than the ${maxBytes} allowed`);
  if (opts.dest) mkdirSync(opts.dest);
  try {
    return await read(file, opts);
  } catch (err) {
    if (opts.dest) rmSync(opts.dest, { recursive: true, force: true });
    throw asBundleError(err);
  }
}

/**
 * @param {unknown} err
 * @returns {BundleError}
 */
function asBundleError(err) {
  if (err instanceof BundleError) return err;
  if (err instanceof TarFormatError) return new BundleError(err.kind === 'truncated' ? 'BUNDLE_TRUNCATED' : 'BUNDLE_MALFORMED', err.message, err);
  const code = /** @type {{ code?: unknown }} */ (err).code;
  // zlib: Z_BUF_ERROR is "unexpected end of file", the mark of a download cut short.
  if (code === 'Z_BUF_ERROR') return new BundleError('BUNDLE_TRUNCATED', 'the gzip stream ends early (a half-downloaded file?)', err);
  if (typeof code === 'string' && code.startsWith('Z_')) return new BundleError('BUNDLE_MALFORMED', `not a gzip stream: ${/** @type {Error} */ (err).message}`, err);
  // Anything else (disk full, permission) is not a verdict on the bundle: it propagates as it is.
  throw err;
}

/**
 * @param {string} file
 * @param {ReadBundleOptions} opts
 * @returns {Promise<BundleInfo>}
 */
async function read(file, opts) {
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  // Bigger output chunks than zlib's 16 KiB: fewer chunks through the tar parser for the same bytes.
  const gunzip = createGunzip({ chunkSize: 128 * 1024 });
  // Errors of any stage reach the gunzip stream (pipeline destroys the chain), so the loop below throws them.
  pipeline(createReadStream(file), tap, gunzip, () => undefined);

  /** @type {BundleManifest | undefined} */
  let manifest;
  /** @type {Buffer | undefined} */
  let manifestBytes;
  /** @type {Buffer | undefined} */
  let signature;
  /** @type {string | undefined} */
  let signedBy;
  let trusted = false;
  /** @type {Map<string, ManifestFile>} */
  let expected = new Map();
  /** @type {Array<{ path: string, target: string }>} */
  const links = [];

  /** Everything decided from the manifest and signature, before the first file is written. */
  const establishTrust = async () => {
    if (!manifest || !manifestBytes) throw new BundleError('BUNDLE_MALFORMED', `the bundle does not start with ${MANIFEST_NAME}`);
    if (opts.allowedSigners) {
      if (!signature) throw new BundleError('BUNDLE_UNSIGNED', `the bundle of ${manifest.version} (${manifest.commit.slice(0, 12)}) carries no signature, and allowed signers are configured`);
      signedBy = await verifyManifestSignature(manifestBytes, signature, opts.allowedSigners);
    }
    const arch = opts.arch === undefined ? process.arch : opts.arch;
    if (manifest.platform !== 'linux' || (arch !== null && manifest.arch !== arch)) {
      throw new BundleError('BUNDLE_WRONG_ARCH', `the bundle is for ${manifest.platform}-${manifest.arch}; this host is linux-${arch ?? '*'}`);
    }
    const total = manifest.files.reduce((n, f) => n + (f.size ?? 0), 0);
    const maxUnpacked = opts.maxUnpackedBytes ?? DEFAULT_UNPACKED_MAX_BYTES;
    if (total > maxUnpacked) throw new BundleError('BUNDLE_TOO_LARGE', `the bundle unpacks to ${total} bytes, more than the ${maxUnpacked} allowed`);
    expected = new Map(manifest.files.map((f) => [f.path, f]));
    trusted = true;
  };

  /** @param {string} why @returns {BundleError} */
  const tampered = (why) => new BundleError('BUNDLE_TAMPERED', why);

  const events = readTar(gunzip);
  const dirs = madeDirs();
  let index = 0;
  for (;;) {
    const ev = await events.next();
    if (ev.done) break;
    if (ev.value.kind !== 'entry') throw new Error('tar events out of order');
    const entry = ev.value.entry;
    const at = index++;
    if (at === 0 || (at === 1 && entry.path === SIGNATURE_NAME)) {
      const isManifest = at === 0;
      if (isManifest && (entry.path !== MANIFEST_NAME || entry.type !== 'file')) throw new BundleError('BUNDLE_MALFORMED', `the bundle does not start with ${MANIFEST_NAME}`);
      const max = isManifest ? MANIFEST_MAX_BYTES : SIGNATURE_MAX_BYTES;
      if (entry.type !== 'file' || entry.size > max) throw new BundleError('BUNDLE_MALFORMED', `${entry.path} is not a file of at most ${max} bytes`);
      const data = await collect(events);
      if (isManifest) {
        manifestBytes = data;
        manifest = parseManifest(data);
      } else signature = data;
      continue;
    }
    if (!trusted) await establishTrust();
    const want = expected.get(entry.path);
    if (!isSafeRelativePath(entry.path)) throw tampered(`entry ${JSON.stringify(entry.path)} leaves the bundle`);
    if (!want) throw tampered(`entry ${entry.path} is not in the manifest (listed twice, or added after it was made)`);
    expected.delete(entry.path);
    if (want.type !== entry.type || want.mode !== entry.mode) throw tampered(`${entry.path} is a ${entry.type} of mode ${entry.mode.toString(8)}; the manifest says ${want.type} ${want.mode.toString(8)}`);
    const dest = opts.dest ? join(opts.dest, entry.path) : undefined;
    if (entry.type === 'dir') {
      if (dest) dirs.make(dest);
      await expectEnd(events);
    } else if (entry.type === 'symlink') {
      if (entry.target !== want.target) throw tampered(`symlink ${entry.path} points at ${entry.target}; the manifest says ${want.target}`);
      // Made last, once every file is written: nothing is ever written through a link from the bundle.
      links.push({ path: entry.path, target: /** @type {string} */ (want.target) });
      await expectEnd(events);
    } else {
      if (entry.size !== want.size) throw tampered(`${entry.path} is ${entry.size} bytes; the manifest says ${want.size}`);
      const got = await copyEntry(events, dest, want.mode, dirs);
      if (got !== want.sha256) throw tampered(`${entry.path} has sha256 ${got}; the manifest says ${want.sha256}`);
    }
  }
  if (!trusted) await establishTrust();
  if (expected.size > 0) throw tampered(`${expected.size} file(s) of the manifest are missing from the bundle, first ${[...expected.keys()][0]}`);
  if (opts.dest) {
    for (const l of links) {
      mkdirSync(dirname(join(opts.dest, l.path)), { recursive: true });
      symlinkSync(l.target, join(opts.dest, l.path));
    }
  }
  const m = /** @type {BundleManifest} */ (manifest);
  return { manifest: m, sha256: hash.digest('hex'), bytes, signed: signature !== undefined, signedBy };
}

/**
 * The data of the current entry, whole (a manifest or signature, bounded by the caller).
 * @param {AsyncGenerator<import('./tar-format.js').TarEvent>} events
 * @returns {Promise<Buffer>}
 */
async function collect(events) {
  /** @type {Buffer[]} */
  const parts = [];
  for (;;) {
    const ev = await events.next();
    if (ev.done) throw new BundleError('BUNDLE_TRUNCATED', 'the archive ends inside an entry');
    if (ev.value.kind === 'end-entry') return Buffer.concat(parts);
    if (ev.value.kind === 'data') parts.push(ev.value.chunk);
  }
}

/**
 * @param {AsyncGenerator<import('./tar-format.js').TarEvent>} events
 */
async function expectEnd(events) {
  const ev = await events.next();
  if (ev.done || ev.value.kind !== 'end-entry') throw new BundleError('BUNDLE_MALFORMED', 'an entry without a size carries data');
}

/**
 * The directories made so far: a bundle holds thousands of files in a few hundred directories, and each
 * mkdir is a system call.
 */
function madeDirs() {
  const made = new Set();
  return {
    /** @param {string} dir */
    make(dir) {
      if (made.has(dir)) return;
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      made.add(dir);
    },
  };
}

/**
 * Hashes the current entry's data and, with a destination, writes it there (a new file: 'wx' refuses a
 * path already made, so an entry cannot overwrite another). Returns the sha256. The writes are
 * synchronous on one descriptor: a bundle is thousands of small files, and a promise per open, write,
 * chmod and close made unpacking minutes long on a busy host (each waited its turn in libuv's four
 * threads); a chunk is at most a tar block run of the gunzip stream, so the event loop still turns
 * between chunks.
 * @param {AsyncGenerator<import('./tar-format.js').TarEvent>} events
 * @param {string | undefined} dest
 * @param {number} mode
 * @param {ReturnType<typeof madeDirs>} dirs
 * @returns {Promise<string>}
 */
async function copyEntry(events, dest, mode, dirs) {
  const hash = createHash('sha256');
  if (dest) dirs.make(dirname(dest));
  const fd = dest ? openSync(dest, 'wx', 0o600) : undefined;
  try {
    for (;;) {
      const ev = await events.next();
      if (ev.done) throw new BundleError('BUNDLE_TRUNCATED', 'the archive ends inside an entry');
      if (ev.value.kind === 'end-entry') break;
      if (ev.value.kind === 'data') {
        hash.update(ev.value.chunk);
        if (fd !== undefined) writeAll(fd, ev.value.chunk);
      }
    }
    // The mode is set after writing, explicitly: the umask would otherwise decide it.
    if (fd !== undefined) fchmodSync(fd, mode);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return hash.digest('hex');
}

/**
 * @param {number} fd
 * @param {Buffer} chunk
 */
function writeAll(fd, chunk) {
  for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
}
