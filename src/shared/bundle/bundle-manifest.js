// What a release bundle says about itself: the manifest, its first tar entry, listing every other entry
// with its type, mode, size and sha256 (the one thing a signature covers), and the errors the bundle
// verifier raises. Plain JavaScript with node's built-ins only (install.sh reads bundles; see
// src/ops/release-layout.js), so it validates by hand what zod validates elsewhere.

/** The manifest's name in the archive: always the first entry. */
export const MANIFEST_NAME = 'httpagent-bundle.json';
/** The detached `ssh-keygen -Y sign` signature of the manifest's bytes: the second entry when present. */
export const SIGNATURE_NAME = 'httpagent-bundle.json.sig';
/** The ssh-keygen namespace of a bundle signature: a signature made for git (or anything else) does not pass. */
export const SIGNATURE_NAMESPACE = 'httpagent-release';
export const MANIFEST_FORMAT = 'httpagent-bundle/1';
/** A manifest of a few thousand files is a few hundred KiB. */
export const MANIFEST_MAX_BYTES = 8 * 1024 * 1024;
export const SIGNATURE_MAX_BYTES = 64 * 1024;

/**
 * @typedef {object} ManifestFile
 * @property {string} path relative, '/'-separated, no '.' or '..' segments
 * @property {'file' | 'dir' | 'symlink'} type
 * @property {number} mode permission bits (0o755 or 0o644 for files, 0o755 for directories)
 * @property {number} [size] files
 * @property {string} [sha256] files, hex
 * @property {string} [target] symlinks: relative, staying inside the bundle
 */

/**
 * @typedef {object} BundleManifest
 * @property {string} format
 * @property {string} name always "httpagent"
 * @property {string} version package.json's version
 * @property {string} commit the full commit the release was built from (its COMMIT file)
 * @property {string} platform "linux"
 * @property {string} arch node's process.arch of the build (x64, arm64)
 * @property {string} node the node version it was built and self-tested with
 * @property {string} createdAt
 * @property {ManifestFile[]} files
 */

/**
 * @typedef {'BUNDLE_TRUNCATED' | 'BUNDLE_MALFORMED' | 'BUNDLE_TAMPERED' | 'BUNDLE_UNSIGNED' | 'BUNDLE_BAD_SIGNATURE' | 'BUNDLE_WRONG_ARCH' | 'BUNDLE_TOO_LARGE' | 'BUNDLE_SIGNERS_UNREADABLE'} BundleErrorCode
 */

/** Why a bundle was refused; `code` is registered in src/shared/error-codes.ts. */
export class BundleError extends Error {
  /**
   * @param {BundleErrorCode} code
   * @param {string} message
   * @param {unknown} [cause]
   */
  constructor(code, message, cause) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'BundleError';
    /** @readonly */
    this.code = code;
  }
}

/**
 * `httpagent-<version>-<commit 12>-linux-<arch>.tar.gz`.
 * @param {{ version: string, commit: string, platform: string, arch: string }} m
 * @returns {string}
 */
export function bundleFileName(m) {
  return `httpagent-${releaseId(m)}-${m.platform}-${m.arch}.tar.gz`;
}

/**
 * The name a release goes by on the channel and in file names: `<version>-<commit 12>`.
 * @param {{ version: string, commit: string }} m
 * @returns {string}
 */
export function releaseId(m) {
  return `${m.version}-${m.commit.slice(0, 12)}`;
}

/**
 * Whether a relative path stays inside the directory it is resolved in.
 * @param {string} p
 * @returns {boolean}
 */
export function isSafeRelativePath(p) {
  if (p === '' || p.startsWith('/') || p.includes('\0') || p.includes('\\')) return false;
  return p.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

/**
 * A symlink at `path` pointing at `target` resolves inside the bundle root.
 * @param {string} path
 * @param {string} target
 * @returns {boolean}
 */
export function isSafeLinkTarget(path, target) {
  if (target === '' || target.startsWith('/') || target.includes('\0')) return false;
  const parts = path.split('/').slice(0, -1);
  for (const s of target.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') {
      if (parts.length === 0) return false;
      parts.pop();
    } else parts.push(s);
  }
  return true;
}

const HEX64 = /^[0-9a-f]{64}$/;
const VERSION = /^[0-9A-Za-z.+-]{1,64}$/;
const COMMIT = /^[0-9A-Za-z.+-]{1,64}$/;

/**
 * The manifest's bytes → a checked BundleManifest, or BUNDLE_MALFORMED naming what is wrong.
 * @param {Buffer} bytes
 * @returns {BundleManifest}
 */
export function parseManifest(bytes) {
  /** @type {unknown} */
  let value;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new BundleError('BUNDLE_MALFORMED', `the manifest is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  /** @param {string} what @returns {never} */
  const bad = (what) => {
    throw new BundleError('BUNDLE_MALFORMED', `the manifest's ${what}`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return bad('top level is not an object');
  const m = /** @type {Record<string, unknown>} */ (value);
  const known = new Set(['format', 'name', 'version', 'commit', 'platform', 'arch', 'node', 'createdAt', 'files']);
  for (const k of Object.keys(m)) if (!known.has(k)) bad(`field ${JSON.stringify(k)} is unknown`);
  if (m.format !== MANIFEST_FORMAT) bad(`format is ${JSON.stringify(m.format)}, not ${MANIFEST_FORMAT}`);
  if (m.name !== 'httpagent') bad('name is not httpagent');
  if (typeof m.version !== 'string' || !VERSION.test(m.version)) bad('version is missing or malformed');
  if (typeof m.commit !== 'string' || !COMMIT.test(m.commit)) bad('commit is missing or malformed');
  for (const k of ['platform', 'arch', 'node', 'createdAt']) if (typeof m[k] !== 'string' || m[k] === '') bad(`${k} is missing`);
  if (!Array.isArray(m.files)) return bad('files is not a list');
  /** @type {ManifestFile[]} */
  const files = [];
  const seen = new Set();
  for (const f of m.files) {
    if (typeof f !== 'object' || f === null) bad('files hold a non-object');
    const e = /** @type {Record<string, unknown>} */ (f);
    const path = typeof e.path === 'string' ? e.path : '';
    if (typeof e.path !== 'string' || !isSafeRelativePath(path) || path === MANIFEST_NAME || path === SIGNATURE_NAME) bad(`file path ${JSON.stringify(path)} is not a safe relative path`);
    if (seen.has(path)) bad(`file ${JSON.stringify(path)} is listed twice`);
    seen.add(path);
    if (typeof e.mode !== 'number' || !Number.isInteger(e.mode) || (e.mode & ~0o777) !== 0) bad(`mode of ${path} is not permission bits`);
    const mode = /** @type {number} */ (e.mode);
    if (e.type === 'file') {
      if (typeof e.size !== 'number' || !Number.isSafeInteger(e.size) || e.size < 0) bad(`size of ${path} is missing`);
      if (typeof e.sha256 !== 'string' || !HEX64.test(e.sha256)) bad(`sha256 of ${path} is missing`);
      files.push({ path, type: 'file', mode, size: /** @type {number} */ (e.size), sha256: /** @type {string} */ (e.sha256) });
    } else if (e.type === 'dir') {
      files.push({ path, type: 'dir', mode });
    } else if (e.type === 'symlink') {
      if (typeof e.target !== 'string' || !isSafeLinkTarget(path, e.target)) bad(`symlink ${path} points outside the bundle`);
      files.push({ path, type: 'symlink', mode, target: /** @type {string} */ (e.target) });
    } else bad(`type of ${path} is not file, dir or symlink`);
  }
  return {
    format: MANIFEST_FORMAT,
    name: 'httpagent',
    version: /** @type {string} */ (m.version),
    commit: /** @type {string} */ (m.commit),
    platform: /** @type {string} */ (m.platform),
    arch: /** @type {string} */ (m.arch),
    node: /** @type {string} */ (m.node),
    createdAt: /** @type {string} */ (m.createdAt),
    files,
  };
}
