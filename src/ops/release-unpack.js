// A release from a bundle, for install.sh (release-tool.js unpack-bundle) and the agent's bundle updates
// alike: the bundle is verified while it is unpacked into a hidden staging dir beside the releases, the
// result must pass the same self-test as a built release, and only then does it get RELEASE_OK and its
// name (the commit's first 12 hex digits, as a git release of that commit) by one rename. No npm, no build.
//
// Plain JavaScript with node's built-ins only, for the reason given in release-layout.js.
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BundleError } from '../shared/bundle/bundle-manifest.js';
import { readBundle } from '../shared/bundle/bundle-reader.js';
import { selfCheck } from './release-build.js';
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
 */

/**
 * Unpacks, verifies and self-tests the bundle as releases/<name>; returns its directory. A release of the
 * same commit already whole on disk is kept (after the bundle was still verified, so a bad file is never
 * reported as installed). Throws BundleError for a refused bundle, ReleaseBuildError for a failed self-test.
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
    opts.onStep?.('self-test');
    await selfCheck(staging, opts.env, opts.configFile);
    writeFileSync(join(staging, RELEASE_OK), '');
    const finalDir = join(layout.releasesDir, name);
    // A directory of that name without RELEASE_OK is a leftover of an interrupted build: replaced.
    if (existsSync(finalDir)) rmSync(finalDir, { recursive: true, force: true });
    renameSync(staging, finalDir);
    return { dir: finalDir, name, info, reused: false };
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
}
