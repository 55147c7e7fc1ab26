// Appends a chunk of an attempt's log. The first chunk of an attempt goes through append-log-3.lua with
// its bytes; later ones, once the controller knows where the attempt is stored, are cut into segments
// here and pushed with a plain RPUSH in the same MULTI as append-log-fast-3.lua, which checks fencing (epoch
// and the lease's agent) and offsets and keeps or undoes the push. Redis then never copies a MiB into Lua and out again.
import { scriptSource, type RedisLike, type RunScript } from './commands.js';
import { LOG_SEGMENT_BYTES } from './job-store.js';
import type { Keys } from './keys.js';
import { decodeReply, type ScriptArgs } from './script-contracts.js';

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
  /** `at` undefined: bytes were dropped at the cap, so later chunks cannot be cut ahead of time. */
  const remember = (id: string, epoch: number, at: number | undefined) => {
    storedAt.delete(id);
    if (at === undefined) return;
    storedAt.set(id, { epoch, at });
    if (storedAt.size > REMEMBERED) storedAt.delete(storedAt.keys().next().value!);
  };

  const slow = async (id: string, epoch: number, offset: number, bytes: Buffer, agentId: string) => {
    const reply = await run(
      'appendLog',
      [keys.job(id), keys.log(id), keys.leases],
      { jobId: id, epoch, offset, capBytes: opts.logCapBytes, agentId },
      { jobId: id, bytes: [bytes] },
    );
    remember(id, epoch, reply.storedAt);
    return { offset: reply.offset, cancel: reply.cancel };
  };

  /** undefined: the chunk did not land where expected; nothing changed. */
  const fast = async (id: string, epoch: number, offset: number, bytes: Buffer, at: number, agentId: string) => {
    const pos = at + offset;
    const used = pos % LOG_SEGMENT_BYTES;
    const top = used > 0 ? Math.min(LOG_SEGMENT_BYTES - used, bytes.length) : 0;
    const segments: Buffer[] = [];
    for (let p = top; p < bytes.length; p += LOG_SEGMENT_BYTES) segments.push(bytes.subarray(p, Math.min(p + LOG_SEGMENT_BYTES, bytes.length)));
    const args: ScriptArgs<'appendLogFast'> = {
      jobId: id,
      epoch,
      offset,
      length: bytes.length,
      capBytes: opts.logCapBytes,
      storedAt: at,
      pushed: segments.length,
      agentId,
    };
    const tx = redis!.multi();
    if (segments.length > 0) tx.rpush(keys.log(id), ...segments);
    tx.eval(fastLua, 3, keys.job(id), keys.log(id), keys.leases, JSON.stringify(args), bytes.subarray(0, top));
    const results = (await tx.exec()) ?? [];
    const [err, raw] = results[results.length - 1] ?? [new Error('MULTI aborted'), null];
    if (err) throw err;
    const reply = decodeReply('appendLogFast', raw, { jobId: id });
    return 'slow' in reply ? undefined : reply;
  };

  /** `agentId`: the caller, as its credential proved; the lease must be its own. */
  return async (id: string, epoch: number, offset: number, bytes: Buffer, agentId: string): Promise<{ offset: number; cancel: boolean }> => {
    const known = storedAt.get(id);
    if (redis && known && known.epoch === epoch && bytes.length >= FAST_MIN_BYTES) {
      try {
        const r = await fast(id, epoch, offset, bytes, known.at, agentId);
        if (r) return r;
      } catch (err) {
        storedAt.delete(id);
        throw err;
      }
    }
    return slow(id, epoch, offset, bytes, agentId);
  };
}
