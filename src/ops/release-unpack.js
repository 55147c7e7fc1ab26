// A release from a bundle, for install.sh (release-tool.js unpack-bundle) and the agent's bundle updates
// alike: the bundle is verified while it is unpacked into a hidden staging dir beside the releases, the
// result must pass the same self-test as a built release, and only then does it get RELEASE_OK and its
// name (the commit's first 12 hex digits, as a git release of that commit) by one rename. No npm, no build.
//
// Plain JavaScript with node's built-ins only, for the reason given in release-layout.js.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { BundleError } from '../shared/bundle/bundle-manifest.js';
import { readBundle } from '../shared/bundle/bundle-reader.js';
import { ReleaseBuildError, selfCheck } from './release-build.js';
import { RELEASE_OK, preparedRelease, releaseCommit, releaseName } from './release-layout.js';

/** @typedef {import('./release-layout.js').ReleaseLayout} ReleaseLayout */
/** @typedef {import('../shared/bundle/bundle-reader.js').BundleInfo} BundleInfo */

/**
 * @typedef {object} UnpackOptions
 * @property {ReleaseLayout} layout
 * @property {string} file the bundle
 * @property {string | undefined} [allowedSigners]
 * @property {Record<string, string | undefined>} env the self-test's whole environment
 * @property {string | undefined} [configFile] the config the self-test must accept
 * @property {number} [maxBytes]
 * @property {((step: string) => void) | undefined} [onStep]
 * @property {number} [selfTestTimeoutMs] default: release-build.js's limit
 * @property {boolean} [keepVerifiedOnTimeout] self-update only: keep the tree when the self-test runs out
 *   of time (install.sh's rollback must leave nothing behind, so it does not ask for this)
 */

/**
 * Unpacks, verifies and self-tests the bundle as releases/<name>; returns its directory. A release of the
 * same commit already whole on disk is kept (after the bundle was still verified, so a bad file is never
 * reported as installed). Throws BundleError for a refused bundle, ReleaseBuildError for a failed self-test.
 * With keepVerifiedOnTimeout, a self-test that only ran out of time (a busy host) leaves the verified tree
 * as releases/.verified-<name>, so the next try self-tests it again without downloading and unpacking it
 * again (verifiedRelease, then selfTestAndName).
 * @param {UnpackOptions} opts
 * @returns {Promise<{ dir: string, name: string, info: BundleInfo, reused: boolean }>}
 */
export async function unpackRelease(opts) {
  const { layout } = opts;
  mkdirSync(layout.releasesDir, { recursive: true });
  const staging = join(layout.releasesDir, `.staging-bundle-${process.pid}-${Date.now()}`);
  rmSync(staging, { recursive: true, force: true });
  opts.onStep?.('verify and unpack');
  const info = await readBundle(opts.file, {
    dest: staging,
    ...(opts.allowedSigners ? { allowedSigners: opts.allowedSigners } : {}),
    ...(opts.maxBytes ? { maxBytes: opts.maxBytes } : {}),
  });
  try {
    const commit = info.manifest.commit;
    // The COMMIT file is what the guard and /healthz report: it must say what the manifest says.
    if (releaseCommit(staging) !== commit) throw new BundleError('BUNDLE_TAMPERED', `the bundle's COMMIT file does not name ${commit}, the manifest's commit`);
    const name = releaseName(commit);
    const existing = preparedRelease(layout, commit);
    if (existing) {
      rmSync(staging, { recursive: true, force: true });
      return { dir: existing, name, info, reused: true };
    }
    return { dir: await selfTestAndName(opts, staging, commit), name, info, reused: false };
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
}

/**
 * The tree a timed-out self-test left for `commit` (verified against its bundle, not yet self-tested), if
 * there is one.
 * @param {ReleaseLayout} layout
 * @param {string} commit
 * @returns {string | undefined}
 */
export function verifiedRelease(layout, commit) {
  const dir = verifiedDir(layout, commit);
  return existsSync(dir) && releaseCommit(dir) === commit ? dir : undefined;
}

/**
 * Drops verified trees of other commits (the channel moved on while they waited for a self-test).
 * @param {ReleaseLayout} layout
 * @param {string} [keepCommit]
 * @returns {void}
 */
export function dropVerifiedReleases(layout, keepCommit) {
  if (!existsSync(layout.releasesDir)) return;
  const keep = keepCommit === undefined ? undefined : basename(verifiedDir(layout, keepCommit));
  for (const e of readdirSync(layout.releasesDir)) {
    if (e.startsWith(VERIFIED_PREFIX) && e !== keep) rmSync(join(layout.releasesDir, e), { recursive: true, force: true });
  }
}

const VERIFIED_PREFIX = '.verified-';

/**
 * @param {ReleaseLayout} layout
 * @param {string} commit
 */
function verifiedDir(layout, commit) {
  return join(layout.releasesDir, `${VERIFIED_PREFIX}${releaseName(commit)}`);
}

/**
 * The self-test, then RELEASE_OK and the release's name by one rename: of a tree just unpacked, or of
 * the one verifiedRelease() found (the self-test that ran out of time, tried again). A self-test that ran
 * out of time keeps the tree as the verified one for the next try when asked to; any other failure is
 * the caller's to clean.
 * @param {Omit<UnpackOptions, 'file' | 'allowedSigners' | 'maxBytes'>} opts
 * @param {string} tree
 * @param {string} commit
 * @returns {Promise<string>}
 */
export async function selfTestAndName(opts, tree, commit) {
  const { layout } = opts;
  opts.onStep?.('self-test');
  try {
    await selfCheck(tree, opts.env, opts.configFile, undefined, opts.selfTestTimeoutMs);
  } catch (err) {
    const keep = verifiedDir(layout, commit);
    if (opts.keepVerifiedOnTimeout && err instanceof ReleaseBuildError && err.timedOut && tree !== keep) {
      rmSync(keep, { recursive: true, force: true });
      renameSync(tree, keep);
    }
    throw err;
  }
  writeFileSync(join(tree, RELEASE_OK), '');
  const finalDir = join(layout.releasesDir, releaseName(commit));
  // A directory of that name without RELEASE_OK is a leftover of an interrupted build: replaced.
  if (existsSync(finalDir)) rmSync(finalDir, { recursive: true, force: true });
  renameSync(tree, finalDir);
  return finalDir;
}
