// A job's log spool file: stdout and stderr appended in arrival order, read back by byte offset for
// shipping and resyncs. The file is the source of truth, so a restart can ship what is left.
import { open, type FileHandle } from 'node:fs/promises';

export interface JobLog {
  /** Queues bytes for the file; they count toward `appended` at once and toward `written` once on disk. */
  append(bytes: Buffer | string): void;
  /** Bytes queued so far: the log's logical length. */
  readonly appended: number;
  /** Bytes on disk (readable). */
  readonly written: number;
  /** Bytes appended but not yet on disk: held in memory. */
  readonly queued: number;
  /** Resolves once at most `lowWater` bytes wait for the disk (a writer pauses its source until then). */
  drained(lowWater?: number): Promise<void>;
  /** Resolves once everything appended so far is on disk; returns its length. */
  flush(): Promise<number>;
  /** Up to `max` bytes from `offset`, limited to what is on disk. */
  read(offset: number, max: number): Promise<Buffer>;
  /** Like read, into `target` (up to its length): a shipper reuses its buffers instead of allocating. */
  readInto(offset: number, target: Buffer): Promise<Buffer>;
  /** Called after bytes reach the disk (the shipper's wake-up). */
  onWritten(listener: () => void): void;
  close(): Promise<void>;
}

/** Opens (or creates) the spool file; an existing file is continued, as after an agent restart. */
export async function openJobLog(path: string): Promise<JobLog> {
  const fh: FileHandle = await open(path, 'a+');
  const size = (await fh.stat()).size;
  let appended = size;
  let written = size;
  let chain: Promise<void> = Promise.resolve();
  let failure: Error | undefined;
  const listeners: Array<() => void> = [];
  let waiters: Array<{ lowWater: number; resolve: () => void }> = [];

  return {
    get appended() {
      return appended;
    },
    get written() {
      return written;
    },
    get queued() {
      return appended - written;
    },
    drained(lowWater = 256 * 1024) {
      if (appended - written <= lowWater || failure) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ lowWater, resolve }));
    },
    append(bytes) {
      const buf = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
      if (buf.length === 0) return;
      appended += buf.length;
      // One write at a time, in order: O_APPEND keeps each write whole, the chain keeps the order.
      chain = chain.then(async () => {
        if (failure) return;
        try {
          await fh.write(buf, 0, buf.length, null);
          written += buf.length;
          for (const l of listeners) l();
          if (waiters.length > 0) {
            const ready = waiters.filter((w) => appended - written <= w.lowWater);
            waiters = waiters.filter((w) => appended - written > w.lowWater);
            for (const w of ready) w.resolve();
          }
        } catch (err) {
          failure = err as Error;
          for (const w of waiters) w.resolve(); // nothing will drain now; let the writer go on
          waiters = [];
        }
      });
    },
    async flush() {
      await chain;
      if (failure) throw failure;
      return written;
    },
    async read(offset, max) {
      const end = Math.min(written, offset + max);
      if (end <= offset) return Buffer.alloc(0);
      const buf = Buffer.alloc(end - offset);
      const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
      return buf.subarray(0, bytesRead);
    },
    async readInto(offset, target) {
      const end = Math.min(written, offset + target.length);
      if (end <= offset) return target.subarray(0, 0);
      const { bytesRead } = await fh.read(target, 0, end - offset, offset);
      return target.subarray(0, bytesRead);
    },
    onWritten(listener) {
      listeners.push(listener);
    },
    async close() {
      await chain;
      await fh.close();
    },
  };
}
