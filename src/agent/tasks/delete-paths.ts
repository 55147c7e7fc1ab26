// POST /v1/delete: removing files and trees only inside the configured roots. The request path is
// resolved once to find its root; the removal then walks down from the root through open directory
// descriptors, so neither `..`, a planted symlink nor a directory swapped mid-walk can steer it outside
// (the guarantee and its limits: docs/security.md, "Host file operations").
import { realpathSync, type BigIntStats } from 'node:fs';
import { lstat, open, readdir, realpath, rmdir, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { ConfigError } from '../../shared/errors.js';
import { DIR_NOFOLLOW, errnoCode, fdLocation, fdPath, openDirAt, sameFile } from './fd-relative.js';

/** deleted: removed now · missing: nothing there (already gone) · refused: not allowed, see reason. */
export type DeleteStatus = 'deleted' | 'missing' | 'refused';

/**
 * NOT_ABSOLUTE: relative paths are ambiguous · DOT_DOT: a `..` segment, refused outright ·
 * OUTSIDE_ROOTS: the real location (after symlinks in the parent chain) is not inside a root ·
 * IS_ROOT: a root itself, or above one · OTHER_DEVICE: a mount point inside the root, never crossed ·
 * CHANGED: a directory on the way was swapped, replaced or moved out of the root while the agent worked;
 * it stopped there · FAILED: the filesystem refused (permissions, busy mount, too deep).
 */
export const DELETE_REFUSALS = ['NOT_ABSOLUTE', 'DOT_DOT', 'OUTSIDE_ROOTS', 'IS_ROOT', 'OTHER_DEVICE', 'CHANGED', 'FAILED'] as const;
export type DeleteRefusal = (typeof DELETE_REFUSALS)[number];

export interface DeleteResult {
  path: string;
  status: DeleteStatus;
  reason?: DeleteRefusal;
  message?: string;
}

/**
 * Resolves the configured roots once to their real paths. A root that does not exist (yet) is
 * resolved again on each call, so creating it later needs no restart. `/` is never a root.
 */
export function compileDeleteRoots(roots: readonly string[]): () => string[] {
  for (const r of roots) {
    if (!isAbsolute(r)) throw new ConfigError(`deleteRoots: "${r}" is not an absolute path`);
    if (normalize(r) === sep) throw new ConfigError('deleteRoots: "/" cannot be a delete root');
  }
  return () => {
    const out: string[] = [];
    for (const r of roots) {
      try {
        const real = realpathSync(r);
        if (real !== sep) out.push(real);
      } catch {
        // a root that does not exist holds nothing to delete
      }
    }
    return out;
  };
}

function inside(child: string, root: string): boolean {
  return child.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** A tree deeper than this below the deleted path is refused rather than holding one descriptor per level without bound. */
const MAX_DEPTH = 512;
/** Passes over a directory that keeps getting new entries before giving up on it. */
const EMPTY_PASSES = 3;
/** Files unlinked at once within one directory. */
const UNLINK_BATCH = 16;
/** Looks at one name that keeps changing type under us before giving up on it. */
const FLIP_ATTEMPTS = 4;

class Refused extends Error {
  constructor(
    readonly reason: DeleteRefusal,
    message: string,
  ) {
    super(message);
  }
}

/** One deletion's fixed frame: the root it must stay in and the device it must not leave. */
interface Walk {
  /** The root's real path plus `/`, as bytes: every directory entered must still be below it. */
  below: Buffer;
  dev: bigint;
}

/**
 * Opens the directory `name` in `parent` that lstat saw as `seen`, refusing a symlink (O_NOFOLLOW), a
 * different directory swapped in since the lstat (dev/ino), another device and a directory that is no
 * longer below the root. Undefined when it is gone.
 */
async function enterDir(w: Walk, parent: FileHandle, name: Buffer, seen: BigIntStats, shown: string): Promise<FileHandle | undefined> {
  if (seen.dev !== w.dev) throw new Refused('OTHER_DEVICE', `${shown} is on another filesystem (a mount point); it is not crossed`);
  let fh: FileHandle;
  try {
    fh = await openDirAt(parent, name);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP' || code === 'ENOTDIR') throw new Refused('CHANGED', `${shown} was replaced by a non-directory during the deletion`);
    throw err;
  }
  try {
    if (!sameFile(await fh.stat({ bigint: true }), seen)) throw new Refused('CHANGED', `${shown} was replaced by another directory during the deletion`);
    await checkBelowRoot(w, fh, shown);
    return fh;
  } catch (err) {
    await fh.close();
    throw err;
  }
}

async function checkBelowRoot(w: Walk, dir: FileHandle, shown: string): Promise<void> {
  const at = await fdLocation(dir);
  if (!at.subarray(0, w.below.length).equals(w.below)) throw new Refused('CHANGED', `${shown} was moved out of the delete root during the deletion`);
}

async function lstatAt(dir: FileHandle, name: Buffer): Promise<BigIntStats | undefined> {
  try {
    return await lstat(fdPath(dir.fd, name), { bigint: true });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** Unlinks `name` unless it is a directory; true when nothing is left to do for it. */
async function unlinkIfNotDir(parent: FileHandle, name: Buffer): Promise<boolean> {
  const st = await lstatAt(parent, name);
  if (!st) return true;
  if (st.isDirectory()) return false;
  try {
    await unlink(fdPath(parent.fd, name));
    return true;
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT') return true;
    if (code === 'EISDIR') return false;
    throw err;
  }
}

/** Removes `name` in `parent` whatever it is; a directory with everything below it. */
async function removeEntry(w: Walk, parent: FileHandle, name: Buffer, shown: string, depth: number): Promise<void> {
  for (let attempt = 0; attempt < FLIP_ATTEMPTS; attempt++) {
    const st = await lstatAt(parent, name);
    if (!st) return;
    if (st.isDirectory()) return removeTree(w, parent, name, st, shown, depth);
    try {
      // unlink never follows: a symlink is removed as a link, its target untouched.
      await unlink(fdPath(parent.fd, name));
      return;
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT') return;
      // A directory swapped in since the lstat: look again and judge what is there now.
      if (code !== 'EISDIR') throw err;
    }
  }
  throw new Refused('CHANGED', `${shown} kept flipping between a directory and something else during the deletion`);
}

async function removeTree(w: Walk, parent: FileHandle, name: Buffer, seen: BigIntStats, shown: string, depth: number): Promise<void> {
  if (depth >= MAX_DEPTH) throw new Refused('FAILED', `${shown} is more than ${MAX_DEPTH} levels below the deleted path`);
  const dir = await enterDir(w, parent, name, seen, shown);
  if (!dir) return;
  try {
    for (let pass = 0; pass < EMPTY_PASSES; pass++) {
      const names = await readdir(fdPath(dir.fd), { encoding: 'buffer' });
      if (names.length === 0) break;
      for (let i = 0; i < names.length; i += UNLINK_BATCH) {
        // Before each batch: a directory moved out of the root since it was opened is left alone from
        // here on (one readlink per 16 entries narrows the window; it cannot close it, see docs/security.md).
        if (pass > 0 || i > 0) await checkBelowRoot(w, dir, shown);
        const batch = names.slice(i, i + UNLINK_BATCH);
        // Files go in parallel (the thread pool overlaps the syscalls); directories one at a time, so
        // open descriptors grow with depth only. allSettled: nothing may still be using dir.fd once
        // it is closed and its number reused.
        const settled = await Promise.allSettled(batch.map((n) => unlinkIfNotDir(dir, n)));
        const failed = settled.find((r) => r.status === 'rejected');
        if (failed) throw failed.reason;
        for (const [k, r] of settled.entries()) {
          if (r.status === 'fulfilled' && !r.value) await removeEntry(w, dir, batch[k]!, join(shown, batch[k]!.toString()), depth + 1);
        }
      }
    }
  } finally {
    await dir.close();
  }
  try {
    // By name in the parent we hold open: rmdir removes only an empty directory and never follows a symlink.
    await rmdir(fdPath(parent.fd, name));
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT') return;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') throw new Refused('CHANGED', `${shown} kept getting new entries during the deletion`);
    if (code === 'ENOTDIR') throw new Refused('CHANGED', `${shown} was replaced by a non-directory during the deletion`);
    throw err;
  }
}

/** The root open by descriptor, checked to be where its real path says and a directory. */
async function openRoot(root: string): Promise<{ fh: FileHandle; w: Walk }> {
  const fh = await open(root, DIR_NOFOLLOW);
  try {
    const st = await fh.stat({ bigint: true });
    const at = await fdLocation(fh);
    if (!at.equals(Buffer.from(root))) throw new Refused('CHANGED', `the delete root ${root} moved`);
    return { fh, w: { below: Buffer.from(root + sep), dev: st.dev } };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/**
 * Deletes `target` (a real path strictly inside `root`) by walking down from the root: each directory
 * on the way is opened O_NOFOLLOW relative to the one above and must be the one lstat saw, on the
 * root's device, still below the root.
 */
async function removeBelowRoot(root: string, target: string): Promise<'deleted' | 'missing'> {
  const parts = target.slice(root.length + 1).split(sep).map((p) => Buffer.from(p));
  const opened = await openRoot(root);
  const { w } = opened;
  // Only the directory we are in stays open: it alone names the next step, and its location is checked.
  let here = opened.fh;
  try {
    let shown = root;
    for (const part of parts.slice(0, -1)) {
      shown = join(shown, part.toString());
      const st = await lstatAt(here, part);
      if (!st) return 'missing';
      if (!st.isDirectory()) throw new Refused('CHANGED', `${shown} is no longer a directory`);
      const dir = await enterDir(w, here, part, st, shown);
      if (!dir) return 'missing';
      await here.close();
      here = dir;
    }
    const last = parts.at(-1)!;
    if (!(await lstatAt(here, last))) return 'missing';
    await removeEntry(w, here, last, target, 0);
    return 'deleted';
  } finally {
    await here.close();
  }
}

/** Deletes one path; the result says why not when it did not. */
async function deleteOne(path: string, roots: string[]): Promise<DeleteResult> {
  const refuse = (reason: DeleteRefusal, message: string): DeleteResult => ({ path, status: 'refused', reason, message });
  if (!isAbsolute(path)) return refuse('NOT_ABSOLUTE', 'paths must be absolute');
  if (path.split('/').includes('..')) return refuse('DOT_DOT', 'paths must not contain ".." segments');
  const lexical = normalize(path).replace(/(.)\/+$/, '$1');
  if (lexical === sep) return refuse('IS_ROOT', 'refusing to delete /');

  // The parent chain is resolved by path only to learn which root the caller means (a root may be
  // named through a symlink); nothing is removed by this path. The walk below re-checks every step.
  let parent: string;
  try {
    parent = await realpath(dirname(lexical));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') {
      // Nothing can exist below a missing parent; only say "missing" for places we could delete in.
      return roots.some((r) => inside(lexical, r)) ? { path, status: 'missing' } : refuse('OUTSIDE_ROOTS', 'not inside a delete root');
    }
    return refuse('FAILED', `cannot resolve the parent directory (${errnoCode(err) ?? 'error'})`);
  }
  const target = join(parent, basename(lexical));
  if (roots.some((r) => target === r || inside(r, target))) return refuse('IS_ROOT', 'a delete root (or a directory above one) cannot be deleted');
  const root = roots.find((r) => inside(target, r));
  if (!root) return refuse('OUTSIDE_ROOTS', 'the real path is not inside a delete root');

  try {
    return { path, status: await removeBelowRoot(root, target) };
  } catch (err) {
    if (err instanceof Refused) return refuse(err.reason, err.message);
    return refuse('FAILED', `removal failed (${errnoCode(err) ?? (err as Error).message})`);
  }
}

/** One result per path, in order; paths are handled one after another so nested paths behave predictably. */
export async function deletePaths(paths: readonly string[], roots: string[]): Promise<DeleteResult[]> {
  const results: DeleteResult[] = [];
  for (const p of paths) results.push(await deleteOne(p, roots));
  return results;
}
