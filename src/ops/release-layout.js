// The on-disk layout of an install, for self-update and install.sh alike: <prefix>/releases/<name> side
// by side, each holding COMMIT (what it was built from) and .release-ok (whole and self-tested), and
// <prefix>/current, a symlink switched atomically so a restart always starts one whole release.
//
// Plain JavaScript on purpose, like release-build.js: install.sh runs these with node alone (through
// src/bin/release-tool.js) before anything is built, so they use node's built-ins only. tsc checks the
// JSDoc types (checkJs), and the TypeScript rooms import them like any module.
import { existsSync, lstatSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/**
 * @typedef {object} ReleaseLayout
 * @property {string} prefix
 * @property {string} releasesDir
 * @property {string} currentLink The `current` symlink.
 */

/** The marker a release directory gets last: it is whole and passed its self-test. */
export const RELEASE_OK = '.release-ok';

/** The file in a release naming the commit (or, for a source without git, the release name) it was built from. */
export const COMMIT_FILE = 'COMMIT';

/**
 * @param {string} prefix
 * @returns {ReleaseLayout}
 */
export function releaseLayout(prefix) {
  const p = resolve(prefix);
  return { prefix: p, releasesDir: join(p, 'releases'), currentLink: join(p, 'current') };
}

/**
 * A release's directory name: the commit's first 12 hex digits, unique in any one repository and short
 * enough to read in `ls` and alert mail.
 * @param {string} commit
 * @returns {string}
 */
export function releaseName(commit) {
  return commit.slice(0, 12);
}

/**
 * The prefix a running release belongs to: `<prefix>/releases/<name>` → `<prefix>`. Undefined when the
 * code does not run from an installed release (a development checkout), so self-update stays off.
 * @param {string} packageRoot
 * @returns {string | undefined}
 */
export function prefixOfRelease(packageRoot) {
  const parent = dirname(resolve(packageRoot));
  if (basename(parent) !== 'releases') return undefined;
  return dirname(parent);
}

/**
 * The release directory `current` points at, or undefined when there is no link yet.
 * @param {ReleaseLayout} layout
 * @returns {string | undefined}
 */
export function currentRelease(layout) {
  try {
    if (!lstatSync(layout.currentLink).isSymbolicLink()) return undefined;
  } catch {
    return undefined;
  }
  return resolve(dirname(layout.currentLink), readlinkSync(layout.currentLink));
}

/**
 * The commit a release was built from (its COMMIT file), if recorded.
 * @param {string} releaseDir
 * @returns {string | undefined}
 */
export function releaseCommit(releaseDir) {
  const file = join(releaseDir, COMMIT_FILE);
  if (!existsSync(file)) return undefined;
  return readFileSync(file, 'utf8').trim() || undefined;
}

/**
 * Whether `releaseDir` was built to the end (RELEASE_OK is written last, after the self-test).
 * @param {string} releaseDir
 * @returns {boolean}
 */
export function isWholeRelease(releaseDir) {
  return existsSync(join(releaseDir, RELEASE_OK));
}

/**
 * A release built earlier for `commit` (a switch put off while jobs ran), if it is whole.
 * @param {ReleaseLayout} layout
 * @param {string} commit
 * @returns {string | undefined}
 */
export function preparedRelease(layout, commit) {
  const dir = join(layout.releasesDir, releaseName(commit));
  return isWholeRelease(dir) && releaseCommit(dir) === commit ? dir : undefined;
}

/**
 * The release's entry point, as the supervisor runs it.
 * @param {string} releaseDir
 * @returns {string}
 */
export function releaseEntry(releaseDir) {
  return join(releaseDir, 'dist', 'src', 'bin', 'httpagent.js');
}

/**
 * Points `current` at `releaseDir`. A new link is made under a temporary name and renamed over the
 * old one: rename(2) replaces the directory entry in one step, so a reader (or a supervisor starting
 * the program) sees either the old target or the new one, never a missing link. The link is
 * relative so the whole prefix can be moved.
 * @param {ReleaseLayout} layout
 * @param {string} releaseDir
 * @returns {void}
 */
export function switchCurrent(layout, releaseDir) {
  const tmp = `${layout.currentLink}.tmp-${process.pid}`;
  rmSync(tmp, { force: true });
  const target = join('releases', basename(releaseDir));
  symlinkSync(target, tmp);
  renameSync(tmp, layout.currentLink);
}

/**
 * Removes old releases, keeping `keep` besides the ones named in `protect` (current, previous).
 * @param {ReleaseLayout} layout
 * @param {number} keep
 * @param {string[]} protect
 * @returns {string[]} the names removed
 */
export function pruneReleases(layout, keep, protect) {
  if (!existsSync(layout.releasesDir)) return [];
  const keepSet = new Set(protect.map((p) => basename(p)));
  const entries = readdirSync(layout.releasesDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => ({ name: e.name, mtime: lstatSync(join(layout.releasesDir, e.name)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  /** @type {string[]} */
  const removed = [];
  let kept = 0;
  for (const e of entries) {
    if (keepSet.has(e.name)) continue;
    if (kept < keep) {
      kept++;
      continue;
    }
    rmSync(join(layout.releasesDir, e.name), { recursive: true, force: true });
    removed.push(e.name);
  }
  return removed;
}
