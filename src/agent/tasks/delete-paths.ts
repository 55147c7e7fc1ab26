// POST /v1/delete: removing files and trees only inside the configured roots, judged on real paths so
// that neither `..` nor a planted symlink can steer a deletion outside them.
import { lstat, realpath, rm } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { ConfigError } from '../../shared/errors.js';

/** deleted: removed now · missing: nothing there (already gone) · refused: not allowed, see reason. */
export type DeleteStatus = 'deleted' | 'missing' | 'refused';

/**
 * NOT_ABSOLUTE: relative paths are ambiguous · DOT_DOT: a `..` segment, refused outright ·
 * OUTSIDE_ROOTS: the real location (after symlinks in the parent chain) is not inside a root ·
 * IS_ROOT: a root itself, or above one · FAILED: the filesystem refused (permissions, busy mount).
 */
export type DeleteRefusal = 'NOT_ABSOLUTE' | 'DOT_DOT' | 'OUTSIDE_ROOTS' | 'IS_ROOT' | 'FAILED';

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

/**
 * Deletes one path. The parent chain is resolved with realpath; the last component is never followed,
 * so a symlink inside a root (even one pointing at /etc) is removed as a link and its target is untouched.
 * fs.rm of a tree does not follow symlinks inside it either.
 *
 * Limit: between the check and the removal another local user who can write inside a root could swap a
 * parent directory for a symlink (Node has no unlinkat/openat). Roots should be writable only by the
 * test platform's own accounts.
 */
async function deleteOne(path: string, roots: string[]): Promise<DeleteResult> {
  const refuse = (reason: DeleteRefusal, message: string): DeleteResult => ({ path, status: 'refused', reason, message });
  if (!isAbsolute(path)) return refuse('NOT_ABSOLUTE', 'paths must be absolute');
  if (path.split('/').includes('..')) return refuse('DOT_DOT', 'paths must not contain ".." segments');
  const lexical = normalize(path).replace(/(.)\/+$/, '$1');
  if (lexical === sep) return refuse('IS_ROOT', 'refusing to delete /');

  let parent: string;
  try {
    parent = await realpath(dirname(lexical));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      // Nothing can exist below a missing parent; only say "missing" for places we could delete in.
      return roots.some((r) => inside(lexical, r)) ? { path, status: 'missing' } : refuse('OUTSIDE_ROOTS', 'not inside a delete root');
    }
    return refuse('FAILED', `cannot resolve the parent directory (${(err as NodeJS.ErrnoException).code})`);
  }
  const target = join(parent, basename(lexical));
  if (roots.some((r) => target === r || inside(r, target))) return refuse('IS_ROOT', 'a delete root (or a directory above one) cannot be deleted');
  if (!roots.some((r) => inside(target, r))) return refuse('OUTSIDE_ROOTS', 'the real path is not inside a delete root');

  try {
    await lstat(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { path, status: 'missing' };
    return refuse('FAILED', `cannot stat (${(err as NodeJS.ErrnoException).code})`);
  }
  try {
    await rm(target, { recursive: true, force: true });
    return { path, status: 'deleted' };
  } catch (err) {
    return refuse('FAILED', `removal failed (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** One result per path, in order; paths are handled one after another so nested paths behave predictably. */
export async function deletePaths(paths: readonly string[], roots: string[]): Promise<DeleteResult[]> {
  const results: DeleteResult[] = [];
  for (const p of paths) results.push(await deleteOne(p, roots));
  return results;
}
