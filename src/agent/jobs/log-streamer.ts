// Ships a job's spooled log to the controller while the job runs: chunks from byte offsets (a few in
// flight, log-shipping.ts), batched by size or time, resynced when the controller names another
// offset. It never blocks the job: when the controller is away the bytes simply wait in the spool file.
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffMs } from '../../shared/retry-policy.js';
import type { Logger } from '../../shared/log.js';
import type { JobLog } from './job-log.js';
import { shipRound, type SendLog } from './log-shipping.js';

export type { LogAppendReply, SendLog } from './log-shipping.js';

export interface LogStreamerOptions {
  log: JobLog;
  send: SendLog;
  /** Bytes the controller already holds (the claim's logOffset). */
  startOffset?: number;
  /** Largest chunk per request (the controller's logChunkMaxBytes). */
  chunkMaxBytes: number;
  /** Chunks awaiting a reply at once (default LOG_CHUNKS_IN_FLIGHT). */
  inFlight?: number;
  /** Ship as soon as this much is waiting... */
  batchBytes?: number;
  /** ...or once the oldest waiting byte is this old. */
  batchMs?: number;
  logger: Logger;
  /** 409 on an append: another attempt owns the job. */
  onStale: () => void;
  /** The append reply asked us to cancel. */
  onCancel: () => void;
}

export interface LogStreamer {
  /** The controller's end of log as last acknowledged. */
  readonly acked: number;
  /** Stops background shipping and waits for a request in flight. */
  stop(): Promise<void>;
}

export function startLogStreamer(opts: LogStreamerOptions): LogStreamer {
  const batchBytes = opts.batchBytes ?? 64 * 1024;
  const batchMs = opts.batchMs ?? 200;
  let acked = opts.startOffset ?? 0;
  let timer: NodeJS.Timeout | undefined;
  let pumping: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  let failures = 0;

  const schedule = (delay: number) => {
    if (timer || stopped) return;
    timer = setTimeout(() => {
      timer = undefined;
      kick();
    }, delay);
  };

  const kick = () => {
    if (stopped) return;
    if (pumping) {
      again = true;
      return;
    }
    pumping = pump().finally(() => {
      pumping = undefined;
      if (again) {
        again = false;
        kick();
      }
    });
  };

  const pump = async () => {
    for (;;) {
      const end = await shipRound({
        log: opts.log,
        send: opts.send,
        from: acked,
        end: () => opts.log.written,
        chunkMaxBytes: opts.chunkMaxBytes,
        inFlight: opts.inFlight,
        go: () => !stopped,
        onReply: (reply) => {
          acked = Math.max(acked, reply.offset);
          if (reply.cancel) opts.onCancel();
        },
      });
      if (end.kind === 'done') {
        failures = 0;
        return;
      }
      if (end.kind === 'stale') {
        stopped = true;
        opts.onStale();
        return;
      }
      if (end.kind === 'resync') {
        opts.logger.debug({ from: acked, expected: end.from }, 'log resync');
        acked = end.from;
        if (stopped) return;
        continue;
      }
      // The controller is away (or refused): leave the bytes in the spool and try later.
      failures++;
      opts.logger.debug({ err: end.err, failures }, 'log chunk not shipped, will retry');
      schedule(backoffMs(failures, { baseMs: batchMs, capMs: 5_000 }));
      return;
    }
  };

  opts.log.onWritten(() => {
    if (stopped || failures > 0) return; // a retry is already scheduled
    if (opts.log.written - acked >= batchBytes) kick();
    else schedule(batchMs);
  });

  return {
    get acked() {
      return acked;
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await pumping;
    },
  };
}

export interface ShipAllOptions {
  log: JobLog;
  send: SendLog;
  from: number;
  chunkMaxBytes: number;
  inFlight?: number;
  signal?: AbortSignal | undefined;
  logger: Logger;
}

/**
 * Ships everything on disk from `from`, retrying transient failures until it is all acknowledged.
 * Throws on a stale epoch (the caller drops the job) or when `signal` aborts. Returns the end offset.
 */
export async function shipAll(opts: ShipAllOptions): Promise<number> {
  let acked = opts.from;
  let failures = 0;
  const end = await opts.log.flush();
  while (acked < end) {
    const round = await shipRound({ log: opts.log, send: opts.send, from: acked, end: () => end, chunkMaxBytes: opts.chunkMaxBytes, inFlight: opts.inFlight });
    if (round.kind === 'done') return end;
    if (round.kind === 'stale' || round.kind === 'fail') throw round.err;
    if (round.kind === 'resync') {
      acked = round.from;
      continue;
    }
    if (round.acked > acked) failures = 0;
    acked = round.acked;
    if (opts.signal?.aborted) throw round.err;
    await sleep(backoffMs(failures++, { capMs: 5_000 }), undefined, { signal: opts.signal }).catch(() => undefined);
  }
  return end;
}
