// Where a dump's .exec goes while it arrives: a file, never memory, so the agent's heap does not grow
// with the reply and concurrent dumps cost disk up to jacocoMaxBytes each, not RAM.
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, open, type WriteStream } from 'node:fs';
import { mkdir, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { dumpJacoco, type JacocoDump, type JacocoDumpOptions } from './jacoco-dump.js';

export type SpoolDumpOptions = Omit<JacocoDumpOptions, 'out'>;

// Plain fds, not FileHandle streams: on Node 20 a FileHandle read stream after a write stream on the
// same handle never delivered data (seen while building this).
const openFd = promisify(open);

/** Dumps into `path` (0644), written under a temp name and renamed so a collector never picks up half a file. */
export async function dumpJacocoToFile(opts: SpoolDumpOptions, path: string): Promise<JacocoDump> {
  const tmp = `${path}.tmp`;
  const out = createWriteStream('', { fd: await openFd(tmp, 'wx', 0o644) });
  try {
    const dump = await dumpJacoco({ ...opts, out });
    await rename(tmp, path);
    return dump;
  } catch (err) {
    await discard(out);
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Dumps into an anonymous file in `dir` (unlinked as soon as it is open, so nothing is left behind, not
 * even after a crash) and answers a stream of it from the start; the file is gone once the stream closes.
 * The caller sees the reply only after CMDOK, so a dump that fails half way is a coded error, never a
 * truncated 200.
 */
export async function dumpJacocoToSpool(opts: SpoolDumpOptions, dir: string): Promise<{ dump: JacocoDump; exec: Readable }> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, `.dump-${randomBytes(6).toString('hex')}.partial`);
  const fd = await openFd(path, 'wx+', 0o600);
  const out = createWriteStream('', { fd, autoClose: false });
  try {
    await unlink(path);
    const dump = await dumpJacoco({ ...opts, out });
    return { dump, exec: createReadStream('', { fd, start: 0, autoClose: true }) };
  } catch (err) {
    await discard(out); // closes fd
    throw err;
  }
}

/**
 * Stops a spool writer and waits until its fd is closed: destroy() closes an fs stream's fd whatever
 * autoClose says, and only after a write in flight has finished, so the fd is never closed under it.
 */
async function discard(out: WriteStream): Promise<void> {
  if (out.closed) return;
  // Not events.once: it rejects on the 'error' a write cut short by destroy() emits, which would hide the
  // dump's own error. dumpJacoco keeps an 'error' listener on `out`, so that error is not unhandled either.
  const closed = new Promise<void>((resolve) => out.once('close', () => resolve()));
  out.destroy();
  await closed;
}
