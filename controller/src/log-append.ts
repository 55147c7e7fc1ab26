// Appends a chunk of an attempt's log. The first chunk of an attempt goes through append-log-3.lua with
// its bytes; later ones, once the controller knows where the attempt is stored, are cut into segments
// here and pushed with a plain RPUSH in the same MULTI as append-log-fast-3.lua, which checks fencing and
// offsets and keeps or undoes the push. Redis then never copies a MiB into Lua and out again.
import { scriptSource, type RedisLike, type RunScript } from './commands.js';
import { LOG_SEGMENT_BYTES } from './job-store.js';
import type { Keys } from './keys.js';
import { expectOk } from './script-errors.js';

/** Chunks smaller than this take the one-script path: their copy through Lua costs next to nothing. */
const FAST_MIN_BYTES = 16 * 1024;
/** Running attempts remembered (job, epoch → where offset 0 is stored); the oldest are forgotten. */
const REMEMBERED = 10_000;

export interface LogAppendOptions {
  logCapBytes: number;
}

export function createLogAppender(redis: RedisLike | undefined, run: RunScript, keys: Keys, opts: LogAppendOptions) {
  // Sent whole with each MULTI (EVAL, a few KiB beside a MiB of log): an EVALSHA refused with NOSCRIPT
  // inside the transaction would be re-sent by ioredis outside it, after the RPUSH.
  const fastLua = scriptSource('appendLogFast');
  const storedAt = new Map<string, { epoch: number; at: number }>();
  const remember = (id: string, epoch: number, at: unknown) => {
    storedAt.delete(id);
    if (Number(at) < 0) return;
    storedAt.set(id, { epoch, at: Number(at) });
    if (storedAt.size > REMEMBERED) storedAt.delete(storedAt.keys().next().value!);
  };

  const slow = async (id: string, epoch: number, offset: number, bytes: Buffer) => {
    const reply = await run('appendLog', [keys.job(id), keys.log(id), keys.leases], [id, epoch, offset, bytes, opts.logCapBytes]);
    const [end, cancel, at] = expectOk(reply, { jobId: id });
    remember(id, epoch, at ?? -1);
    return { offset: Number(end), cancel: Number(cancel) === 1 };
  };

  /** undefined: the chunk did not land where expected; nothing changed. */
  const fast = async (id: string, epoch: number, offset: number, bytes: Buffer, at: number) => {
    const pos = at + offset;
    const used = pos % LOG_SEGMENT_BYTES;
    const top = used > 0 ? Math.min(LOG_SEGMENT_BYTES - used, bytes.length) : 0;
    const segments: Buffer[] = [];
    for (let p = top; p < bytes.length; p += LOG_SEGMENT_BYTES) segments.push(bytes.subarray(p, Math.min(p + LOG_SEGMENT_BYTES, bytes.length)));
    const tx = redis!.multi();
    if (segments.length > 0) tx.rpush(keys.log(id), ...segments);
    tx.eval(fastLua, 3, keys.job(id), keys.log(id), keys.leases, id, epoch, offset, bytes.length, opts.logCapBytes, at, segments.length, bytes.subarray(0, top));
    const results = (await tx.exec()) ?? [];
    const [err, reply] = results[results.length - 1] ?? [new Error('MULTI aborted'), null];
    if (err) throw err;
    if (Array.isArray(reply) && reply[0] === 'SLOW') return undefined;
    const [end, cancel] = expectOk(reply, { jobId: id });
    return { offset: Number(end), cancel: Number(cancel) === 1 };
  };

  return async (id: string, epoch: number, offset: number, bytes: Buffer): Promise<{ offset: number; cancel: boolean }> => {
    const known = storedAt.get(id);
    if (redis && known && known.epoch === epoch && bytes.length >= FAST_MIN_BYTES) {
      try {
        const r = await fast(id, epoch, offset, bytes, known.at);
        if (r) return r;
      } catch (err) {
        storedAt.delete(id);
        throw err;
      }
    }
    return slow(id, epoch, offset, bytes);
  };
}
