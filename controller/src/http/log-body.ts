// The log append's body, read into a buffer kept for the next append. Copying each MiB of log into a
// fresh buffer (fastify's parseAs 'buffer') made the controller's garbage collector its largest cost
// while a job streamed its output (bench log-stream: a third of the controller's CPU). A buffer goes
// back to the pool only once Redis has answered the command that carried its bytes: a reply means Redis
// read them all, so nothing in flight still points into it. A failed or timed-out append never gives its
// buffer back (the bytes may still sit in a socket's write queue); it is left to the collector.
import type { IncomingMessage } from 'node:http';
import { errorCodes } from 'fastify';

/** Pooled buffers held at most, in bytes in all: a large logChunkMaxBytes pools fewer, or none. */
const POOL_BYTES = 8 * 1024 * 1024;
/** Bodies smaller than this are copied into a buffer of their own size (Node's small-buffer pool). */
const POOL_MIN_BYTES = 64 * 1024;

export interface LogBodies {
  /** A fastify content-type parser: the body's bytes, in a pooled buffer where its size allows. */
  parse(req: { headers: IncomingMessage['headers'] }, payload: NodeJS.ReadableStream, done: (err: Error | null, body?: Buffer) => void): void;
  /** `body` came from parse() and nothing in flight refers to its bytes any more: its buffer may serve again. */
  release(body: Buffer): void;
  /** Buffers now free in the pool (tests). */
  readonly free: number;
}

export function logBodies(maxBytes: number): LogBodies {
  const keep = Math.min(8, Math.floor(POOL_BYTES / maxBytes));
  const free: Buffer[] = [];
  const lent = new WeakSet<ArrayBufferLike>();
  const take = (): Buffer => {
    const b = free.pop() ?? Buffer.allocUnsafeSlow(maxBytes);
    lent.add(b.buffer);
    return b;
  };
  const giveBack = (b: Buffer): void => {
    if (!lent.delete(b.buffer)) return;
    if (free.length < keep) free.push(Buffer.from(b.buffer, 0, maxBytes));
  };

  return {
    parse(req, payload, done) {
      const declared = req.headers['content-length'] === undefined ? NaN : Number(req.headers['content-length']);
      if (declared > maxBytes) return done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
      const pooled = keep > 0 && !(declared < POOL_MIN_BYTES);
      // Without a pool or a length (a chunked upload past the pool's size), the chunks are gathered.
      const into = pooled ? take() : Number.isNaN(declared) ? undefined : Buffer.allocUnsafe(declared);
      const chunks: Buffer[] = [];
      let n = 0;
      const finish = (err: Error | null, body?: Buffer) => {
        payload.removeListener('data', onData);
        payload.removeListener('end', onEnd);
        payload.removeListener('error', onEnd);
        if (err && into) giveBack(into);
        done(err, body);
      };
      const onData = (chunk: Buffer | string) => {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        if (n + bytes.length > (into?.length ?? maxBytes)) return finish(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
        if (into) bytes.copy(into, n);
        else chunks.push(Buffer.from(bytes)); // a copy: a chunk may be a view of the socket's read buffer
        n += bytes.length;
      };
      const onEnd = (err?: Error & { statusCode?: number }) => {
        if (err) {
          if (!(typeof err.statusCode === 'number' && err.statusCode >= 400)) err.statusCode = 400;
          return finish(err);
        }
        if (!Number.isNaN(declared) && n !== declared) return finish(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
        finish(null, into ? into.subarray(0, n) : Buffer.concat(chunks, n));
      };
      payload.on('data', onData);
      payload.on('end', onEnd);
      payload.on('error', onEnd);
      payload.resume();
    },
    release: giveBack,
    get free() {
      return free.length;
    },
  };
}
