// The log append's body parser (controller/src/http/log-body.ts): bytes exactly as sent, limits and
// Content-Length enforced as fastify's own parser does, and a pooled buffer serving again only after
// release() (which the route calls once Redis has answered).
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { logBodies } from '../../controller/src/http/log-body.js';

const MiB = 1024 * 1024;

function parse(bodies: ReturnType<typeof logBodies>, chunks: Buffer[], contentLength?: number): Promise<Buffer> {
  const headers = contentLength === undefined ? {} : { 'content-length': String(contentLength) };
  return new Promise((resolve, reject) => bodies.parse({ headers }, Readable.from(chunks), (err, body) => (err ? reject(err) : resolve(body!))));
}

const bytes = (n: number, fill: number) => Buffer.alloc(n, fill);

describe('log append bodies', () => {
  it('hands over exactly the bytes sent, gathered from many chunks', async () => {
    const bodies = logBodies(MiB);
    const parts = [bytes(100_000, 1), bytes(200_000, 2), bytes(3, 3)];
    const body = await parse(bodies, parts, 300_003);
    expect(body.equals(Buffer.concat(parts))).toBe(true);
    // Chunked (no Content-Length) too.
    expect((await parse(bodies, parts)).equals(Buffer.concat(parts))).toBe(true);
  });

  it('lends a buffer again only after release, once', async () => {
    const bodies = logBodies(MiB);
    const a = await parse(bodies, [bytes(MiB, 1)], MiB);
    const b = await parse(bodies, [bytes(MiB, 2)], MiB);
    // Both in flight: never the same memory.
    expect(a.buffer).not.toBe(b.buffer);
    bodies.release(a);
    bodies.release(a); // a second release of the same body adds nothing
    expect(bodies.free).toBe(1);
    const c = await parse(bodies, [bytes(MiB, 3)], MiB);
    expect(c.buffer).toBe(a.buffer);
    expect(b.every((x) => x === 2)).toBe(true);
    expect(bodies.free).toBe(0);
    // A buffer it did not lend is not taken in.
    bodies.release(Buffer.alloc(MiB));
    expect(bodies.free).toBe(0);
  });

  it('keeps small bodies and bodies past the pool budget out of the pool', async () => {
    const small = logBodies(MiB);
    const s = await parse(small, [bytes(1000, 7)], 1000);
    expect(s.length).toBe(1000);
    small.release(s);
    expect(small.free).toBe(0);
    const huge = logBodies(64 * MiB); // more than the pool's 8 MiB: nothing is pooled
    const h = await parse(huge, [bytes(MiB, 1)], MiB);
    huge.release(h);
    expect(huge.free).toBe(0);
  });

  it('refuses a body over the limit, declared or streamed, and a body shorter than declared', async () => {
    const bodies = logBodies(MiB);
    await expect(parse(bodies, [bytes(10, 1)], MiB + 1)).rejects.toMatchObject({ code: 'FST_ERR_CTP_BODY_TOO_LARGE' });
    await expect(parse(bodies, [bytes(MiB, 1), bytes(1, 1)])).rejects.toMatchObject({ code: 'FST_ERR_CTP_BODY_TOO_LARGE' });
    await expect(parse(bodies, [bytes(100_000, 1)], 200_000)).rejects.toMatchObject({ code: 'FST_ERR_CTP_INVALID_CONTENT_LENGTH' });
    // The buffer the streamed refusal took went back, served the short body, and is back again.
    expect(bodies.free).toBe(1);
  });
});
