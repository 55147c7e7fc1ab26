// Ships a run of a job's spooled log with a few chunks in flight at once, so reading the spool, the
// request and the controller's store overlap instead of taking turns. Offsets stay exact: each chunk
// names where it starts, the controller skips what it already holds and answers a start past its end
// with 416 and the offset it expects, so a chunk overtaken by the next one costs a resend, never a gap.
import { decide, expectedOffset } from '../../shared/retry-policy.js';
import type { JobLog } from './job-log.js';

export interface LogAppendReply {
  offset: number;
  cancel?: boolean | undefined;
}

/** Sends `bytes` as the log from `offset`; resolves with the controller's end of log. */
export type SendLog = (offset: number, bytes: Buffer) => Promise<LogAppendReply>;

/** Chunks in flight per job by default: two keep every stage busy; more only add memory. */
export const LOG_CHUNKS_IN_FLIGHT = 2;

export interface ShipRoundOptions {
  log: JobLog;
  send: SendLog;
  /** The controller's end of log as last known: the first chunk starts here. */
  from: number;
  /** Ship up to here; asked again before each chunk (the streamer ships what has reached the disk). */
  end: () => number;
  chunkMaxBytes: number;
  inFlight?: number;
  /** Asked before each new chunk: false cuts no more (those in flight still settle). */
  go?: () => boolean;
  /** Every reply as it arrives (cancel requests ride on them). */
  onReply?: (reply: LogAppendReply) => void;
}

/** What a round ended on, worst first: the caller stops, gives up, waits, or goes on from `from`. */
export type RoundEnd =
  | { kind: 'done'; acked: number }
  | { kind: 'stale'; err: unknown }
  | { kind: 'fail'; err: unknown }
  | { kind: 'retry'; err: unknown; acked: number }
  | { kind: 'resync'; from: number };

/**
 * Chunk buffers reused within a round once their chunk is acknowledged. A fresh 1 MiB buffer per chunk
 * was freed and taken again hundreds of times for a big log, and the agent's RSS grew with it (malloc
 * keeps such memory). Sizes are powers of two so a buffer fits the next chunk; at most `keep` are held.
 */
function chunkBuffers(keep: number, max: number) {
  const free: Buffer[] = [];
  return {
    take(need: number): Buffer {
      const i = free.findIndex((b) => b.length >= need);
      if (i >= 0) return free.splice(i, 1)[0]!;
      return Buffer.allocUnsafe(Math.min(max, 2 ** Math.ceil(Math.log2(Math.max(need, 16 * 1024)))));
    },
    give(buf: Buffer): void {
      free.push(buf);
      free.sort((a, b) => b.length - a.length);
      free.length = Math.min(free.length, keep);
    },
  };
}

/**
 * Sends chunks of [from, end()) with up to `inFlight` awaiting replies. On the first failure no new
 * chunk is cut; the round waits for the ones in flight and reports the worst outcome.
 */
export async function shipRound(opts: ShipRoundOptions): Promise<RoundEnd> {
  const window = Math.max(1, opts.inFlight ?? LOG_CHUNKS_IN_FLIGHT);
  const buffers = chunkBuffers(window, opts.chunkMaxBytes);
  const pending = new Set<Promise<void>>();
  const errors: unknown[] = [];
  let acked = opts.from;
  let next = opts.from;
  for (;;) {
    while (errors.length === 0 && pending.size < window && next < opts.end() && (opts.go?.() ?? true)) {
      const from = next;
      const buf = buffers.take(Math.min(opts.chunkMaxBytes, opts.end() - from));
      const chunk = await opts.log.readInto(from, buf.subarray(0, opts.chunkMaxBytes));
      if (chunk.length === 0) break;
      next = from + chunk.length;
      const p: Promise<void> = opts
        .send(from, chunk)
        .then(
          (reply) => {
            // The whole body went out before this reply: the buffer is free again. (After a failure it
            // is dropped instead, in case a dying connection still holds it.)
            buffers.give(buf);
            // Replies over different connections may come back in any order; the store only grows.
            acked = Math.max(acked, reply.offset);
            opts.onReply?.(reply);
          },
          (err: unknown) => {
            errors.push(err);
          },
        )
        .finally(() => pending.delete(p));
      pending.add(p);
    }
    if (pending.size === 0) break;
    await Promise.race(pending);
  }
  return worstOutcome(errors, acked);
}

function worstOutcome(errors: unknown[], acked: number): RoundEnd {
  if (errors.length === 0) return { kind: 'done', acked };
  const decisions = errors.map((err) => ({ err, d: decide(err), expected: expectedOffset(err) }));
  const stale = decisions.find((x) => x.d === 'stale');
  if (stale) return { kind: 'stale', err: stale.err };
  const fail = decisions.find((x) => x.d === 'fail' || (x.d === 'resync' && x.expected === undefined));
  if (fail) return { kind: 'fail', err: fail.err };
  const retry = decisions.find((x) => x.d !== 'resync');
  if (retry) return { kind: 'retry', err: retry.err, acked };
  // Only 416s. The lowest offset named is safe to go on from: if a chunk was merely overtaken, what the
  // controller already holds past it is skipped; if the controller lost bytes (Redis restarted without
  // them), it is where they must come from again.
  return { kind: 'resync', from: Math.min(...decisions.map((x) => x.expected!)) };
}
