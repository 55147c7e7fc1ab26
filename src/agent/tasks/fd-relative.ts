// Descriptor-relative file operations for Node, which has no openat/unlinkat/mkdirat: a path through
// /proc/self/fd/N names an entry of the directory open as N, wherever that directory is now, so a
// renamed or swapped ancestor cannot redirect the operation (see docs/security.md, "Host file operations").
import { constants } from 'node:fs';
import { open, readlink, type FileHandle } from 'node:fs/promises';

/**
 * Read-only directory, and refuse (ELOOP/ENOTDIR) when the final component is a symlink. libuv adds
 * O_CLOEXEC to every open, so these descriptors never leak into task processes.
 */
export const DIR_NOFOLLOW = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/**
 * `/proc/self/fd/N` or `/proc/self/fd/N/name`. The kernel resolves `fd/N` to the open directory itself
 * (a "magic link"), not to the path it was opened by; the name is then looked up in that directory.
 * Names are Buffers because a file name may be any bytes but `/` and NUL, not only UTF-8.
 */
export function fdPath(fd: number, name?: Buffer | string): Buffer {
  const dir = Buffer.from(`/proc/self/fd/${fd}`);
  if (name === undefined) return dir;
  const n = typeof name === 'string' ? Buffer.from(name) : name;
  if (n.length === 0 || n.includes(0x2f) || n.includes(0) || n.equals(DOT) || n.equals(DOTDOT)) {
    throw new Error(`not a single path component: ${JSON.stringify(n.toString('latin1'))}`);
  }
  return Buffer.concat([dir, SLASH, n]);
}
const SLASH = Buffer.from('/');
const DOT = Buffer.from('.');
const DOTDOT = Buffer.from('..');

/** openat(dirFd, name, O_DIRECTORY|O_NOFOLLOW). */
export function openDirAt(dir: FileHandle, name: Buffer | string): Promise<FileHandle> {
  return open(fdPath(dir.fd, name), DIR_NOFOLLOW);
}

/** Where the kernel says the open directory is now (`readlink /proc/self/fd/N`), as bytes. */
export function fdLocation(fh: FileHandle): Promise<Buffer> {
  return readlink(fdPath(fh.fd), { encoding: 'buffer' });
}

/** The same file: device and inode both equal (bigint stats: inode numbers may pass 2^53). */
export function sameFile(a: { dev: bigint; ino: bigint }, b: { dev: bigint; ino: bigint }): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

export function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}
