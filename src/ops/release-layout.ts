// The on-disk layout of an install: <prefix>/releases/<id> side by side and <prefix>/current, a
// symlink switched atomically so a restart always starts one whole release, never a mix.
import { existsSync, lstatSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

export interface ReleaseLayout {
  prefix: string;
  releasesDir: string;
  /** The `current` symlink. */
  currentLink: string;
}

export function releaseLayout(prefix: string): ReleaseLayout {
  const p = resolve(prefix);
  return { prefix: p, releasesDir: join(p, 'releases'), currentLink: join(p, 'current') };
}

/**
 * The prefix a running release belongs to: `<prefix>/releases/<id>` → `<prefix>`. Undefined when the
 * code does not run from an installed release (a development checkout), so self-update stays off.
 */
export function prefixOfRelease(packageRoot: string): string | undefined {
  const parent = dirname(resolve(packageRoot));
  if (basename(parent) !== 'releases') return undefined;
  return dirname(parent);
}

/** The release directory `current` points at, or undefined when there is no link yet. */
export function currentRelease(layout: ReleaseLayout): string | undefined {
  try {
    if (!lstatSync(layout.currentLink).isSymbolicLink()) return undefined;
  } catch {
    return undefined;
  }
  return resolve(dirname(layout.currentLink), readlinkSync(layout.currentLink));
}

/** The commit a release was built from (its COMMIT file), if recorded. */
export function releaseCommit(releaseDir: string): string | undefined {
  const file = join(releaseDir, 'COMMIT');
  if (!existsSync(file)) return undefined;
  return readFileSync(file, 'utf8').trim() || undefined;
}

/**
 * Points `current` at `releaseDir`. A new link is made under a temporary name and renamed over the
 * old one: rename(2) replaces the directory entry in one step, so a reader (or a supervisor starting
 * the program) sees either the old target or the new one, never a missing link. The link is
 * relative so the whole prefix can be moved.
 */
export function switchCurrent(layout: ReleaseLayout, releaseDir: string): void {
  const tmp = `${layout.currentLink}.tmp-${process.pid}`;
  rmSync(tmp, { force: true });
  const target = join('releases', basename(releaseDir));
  symlinkSync(target, tmp);
  renameSync(tmp, layout.currentLink);
}

/** Removes old releases, keeping `keep` besides the ones named in `protect` (current, previous). */
export function pruneReleases(layout: ReleaseLayout, keep: number, protect: string[]): string[] {
  if (!existsSync(layout.releasesDir)) return [];
  const keepSet = new Set(protect.map((p) => basename(p)));
  const entries = readdirSync(layout.releasesDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => ({ name: e.name, mtime: lstatSync(join(layout.releasesDir, e.name)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  const removed: string[] = [];
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
