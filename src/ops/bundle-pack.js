// Packs a built release (releases/<name>, whole and self-tested) into a bundle: its runtime files in a
// fixed order, a manifest first with every file's sha256, then the manifest's detached signature when a
// signing key is given. The same release packs to the same bytes but for the manifest's createdAt.
//
// Plain JavaScript with node's built-ins only, for the reason given in release-layout.js.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { MANIFEST_FORMAT, MANIFEST_NAME, SIGNATURE_NAME, bundleFileName, isSafeLinkTarget } from '../shared/bundle/bundle-manifest.js';
import { signManifest } from '../shared/bundle/ssh-signature.js';
import { END_OF_ARCHIVE, entryHeader, padding } from '../shared/bundle/tar-format.js';
import { COMMIT_FILE, RELEASE_OK, releaseCommit } from './release-layout.js';

/** @typedef {import('../shared/bundle/bundle-manifest.js').ManifestFile} ManifestFile */
/** @typedef {import('../shared/bundle/bundle-manifest.js').BundleManifest} BundleManifest */

/**
 * What a host needs to run and install a release: the built code with its production dependencies
 * compiled in (dist/src/bin holds one file per process and the chunks they share, src/ops/entry-bundle.js,
 * the dependencies' license texts beside them), the task scripts, supervisor files, the installer with the
 * plain-JS release tools it runs (src/), the Lua scripts the controller loads, and what names the release.
 * node_modules stays out: nothing a release runs loads it, and its ~7,000 files were most of what every
 * host unpacked. Tests, bench and docs stay out too.
 */
export const BUNDLE_CONTENTS = ['COMMIT', 'package.json', 'package-lock.json', 'README.md', 'LICENSE', 'install.sh', 'dist', 'scripts', 'supervisor', 'src', 'controller/lua', 'controller/ui/dist'];

/**
 * @typedef {object} PackProgress
 * @property {'hashing' | 'signing' | 'writing' | 'done'} phase
 * @property {number} done files (or bytes, writing) done
 * @property {number} total
 */

/**
 * @typedef {object} PackOptions
 * @property {string} releaseDir
 * @property {string} outDir where the .tar.gz is written
 * @property {string} [signingKey] an SSH private key file (no passphrase): the manifest gets a detached signature
 * @property {string} [arch] recorded in the manifest and the name; default: this process's
 * @property {(p: PackProgress) => void} [onProgress]
 */

/**
 * @param {PackOptions} opts
 * @returns {Promise<{ file: string, manifest: BundleManifest, signed: boolean }>}
 */
export async function packBundle(opts) {
  const root = opts.releaseDir;
  if (!existsSync(join(root, RELEASE_OK))) throw new Error(`${root} is not a whole, self-tested release (no ${RELEASE_OK})`);
  const commit = releaseCommit(root);
  if (!commit) throw new Error(`${root} has no ${COMMIT_FILE}`);
  /** @type {{ version?: unknown }} */
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  if (typeof pkg.version !== 'string') throw new Error(`${root}/package.json has no version`);

  const paths = listContents(root);
  /** @type {ManifestFile[]} */
  const files = [];
  let i = 0;
  for (const path of paths) {
    const st = lstatSync(join(root, path));
    if (st.isDirectory()) files.push({ path, type: 'dir', mode: 0o755 });
    else if (st.isSymbolicLink()) {
      const target = readlinkSync(join(root, path));
      if (!isSafeLinkTarget(path, target)) throw new Error(`${path} links outside the release (${target}); a bundle cannot hold it`);
      files.push({ path, type: 'symlink', mode: 0o777, target });
    } else if (st.isFile()) {
      const sha256 = createHash('sha256').update(readFileSync(join(root, path))).digest('hex');
      files.push({ path, type: 'file', mode: (st.mode & 0o111) !== 0 ? 0o755 : 0o644, size: st.size, sha256 });
    }
    opts.onProgress?.({ phase: 'hashing', done: ++i, total: paths.length });
  }

  /** @type {BundleManifest} */
  const manifest = {
    format: MANIFEST_FORMAT,
    name: 'httpagent',
    version: pkg.version,
    commit,
    platform: 'linux',
    arch: opts.arch ?? process.arch,
    node: process.version,
    createdAt: new Date().toISOString(),
    files,
  };
  const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 1)}\n`);
  /** @type {Buffer | undefined} */
  let signature;
  if (opts.signingKey) {
    opts.onProgress?.({ phase: 'signing', done: 0, total: 1 });
    signature = await signManifest(manifestBytes, opts.signingKey);
  }

  mkdirSync(opts.outDir, { recursive: true });
  const file = join(opts.outDir, bundleFileName(manifest));
  const part = `${file}.part-${process.pid}`;
  const total = files.reduce((n, f) => n + (f.size ?? 0), 0);
  let written = 0;
  /** @returns {AsyncGenerator<Buffer>} */
  async function* tar() {
    yield entryHeader({ path: MANIFEST_NAME, type: 'file', mode: 0o644, size: manifestBytes.length });
    yield manifestBytes;
    yield padding(manifestBytes.length);
    if (signature) {
      yield entryHeader({ path: SIGNATURE_NAME, type: 'file', mode: 0o644, size: signature.length });
      yield signature;
      yield padding(signature.length);
    }
    for (const f of files) {
      yield entryHeader({ path: f.path, type: f.type, mode: f.mode, size: f.size ?? 0, ...(f.target !== undefined ? { target: f.target } : {}) });
      if (f.type !== 'file') continue;
      let got = 0;
      for await (const chunk of createReadStream(join(root, f.path))) {
        got += /** @type {Buffer} */ (chunk).length;
        yield /** @type {Buffer} */ (chunk);
      }
      // A file that changed since it was hashed would make a bundle that fails its own manifest.
      if (got !== f.size) throw new Error(`${f.path} changed while it was packed`);
      yield padding(got);
      written += got;
      opts.onProgress?.({ phase: 'writing', done: written, total });
    }
    yield END_OF_ARCHIVE;
  }
  try {
    await pipeline(Readable.from(tar()), createGzip({ level: 6 }), createWriteStream(part, { flags: 'wx', mode: 0o644 }));
    renameSync(part, file);
  } catch (err) {
    rmSync(part, { force: true });
    throw err;
  }
  opts.onProgress?.({ phase: 'done', done: total, total });
  return { file, manifest, signed: signature !== undefined };
}

/**
 * Every path under BUNDLE_CONTENTS that exists, parents before children, sorted, '/'-separated.
 * @param {string} root
 * @returns {string[]}
 */
function listContents(root) {
  /** @type {Set<string>} */
  const out = new Set();
  /** @param {string} rel */
  const walk = (rel) => {
    const st = lstatSync(join(root, rel));
    out.add(rel);
    if (!st.isDirectory()) return;
    for (const name of readdirSync(join(root, rel)).sort()) walk(`${rel}/${name}`);
  };
  for (const top of BUNDLE_CONTENTS) {
    if (!existsSync(join(root, top))) continue;
    // The directories above a nested entry (controller/ for controller/lua) are entries of their own.
    const parts = top.split('/');
    for (let n = 1; n < parts.length; n++) out.add(parts.slice(0, n).join('/'));
    walk(top);
  }
  return [...out].sort();
}
