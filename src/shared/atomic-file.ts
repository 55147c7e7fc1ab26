// Writes a file so a reader sees the old content or the new, never a torn one, and so the new content
// survives a power cut once this returns.
import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync, constants as fsc } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * A fresh temp file beside `file`, created with O_EXCL|O_NOFOLLOW (a file or symlink planted under
 * that name makes this fail rather than be written through), given `mode` (0600 by default) whatever
 * the umask, fsynced, renamed over `file`; then the directory is fsynced so the rename is durable.
 * The directory is created (0700) when missing.
 */
export function writeFileAtomic(file: string, data: string | Buffer, mode = 0o600): void {
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}`);
  const fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, mode);
  try {
    fchmodSync(fd, mode); // open's mode is masked by the umask; this is not
    writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fsyncSync(fd);
    closeSync(fd);
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    unlinkSync(tmp);
    throw err;
  }
  try {
    renameSync(tmp, file);
  } catch (err) {
    unlinkSync(tmp);
    throw err;
  }
  fsyncDir(dir);
}

/** Makes a rename in `dir` durable. Some filesystems refuse fsync on a directory; the rename stands anyway. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
    fsyncSync(fd);
  } catch {
    // best effort (see above)
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
