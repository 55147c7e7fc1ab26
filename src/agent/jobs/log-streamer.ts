// Ships a job's spooled log to the controller while the job runs: chunks from byte offsets (a few in
// flight, log-shipping.ts), batched by size or time, resynced when the controller names another
// offset. It never blocks the job: when the controller is away the bytes simply wait in the spool file.
import { RETRY, decide } from '../../shared/retry-policy.js';
import { withRetry } from '../../shared/retry.js';
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
  // Aborted by stop(): a retry waiting for the controller ends at once.
  const stopping = new AbortController();
  const schedule = RETRY.logStream(batchMs);

  const later = (delay: number) => {
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

  /** One round of shipping what has reached the disk; throws what it ended on unless that was a resync. */
  const shipWritten = async (): Promise<void> => {
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
      if (end.kind === 'done') return;
      if (end.kind !== 'resync') throw end.err;
      opts.logger.debug({ from: acked, expected: end.from }, 'log resync');
      acked = end.from;
      if (stopped) return;
    }
  };

  const pump = async () => {
    try {
      // Anything but a stale epoch is retried, refusals included: the bytes wait in the spool, and the
      // result's delivery ships whatever is left anyway. Writes meanwhile only mark `again`.
      await withRetry(shipWritten, {
        ...schedule,
        signal: stopping.signal,
        judge: (err, failures) => {
          if (decide(err) === 'stale') return 'give-up';
          opts.logger.debug({ err, failures: failures + 1 }, 'log chunk not shipped, will retry');
          return 'retry';
        },
      });
    } catch (err) {
      if (decide(err) !== 'stale') return; // stopped while waiting to retry
      stopped = true;
      opts.onStale();
    }
  };

  opts.log.onWritten(() => {
    if (stopped) return;
    if (opts.log.written - acked >= batchBytes) kick();
    else later(batchMs);
  });

  return {
    get acked() {
      return acked;
    },
    async stop() {
      stopped = true;
      stopping.abort();
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
 * Throws on a stale epoch or a refusal (the caller decides), or when `signal` aborts. Returns the end offset.
 */
export async function shipAll(opts: ShipAllOptions): Promise<number> {
  let acked = opts.from;
  const end = await opts.log.flush();
  // What the last round ended on, for the judge: only a round that failed to reach the controller is
  // retried (a stale epoch, a refusal, or a local read error is the caller's), and one that got some
  // chunks through before failing starts the backoff over.
  let unreachable = false;
  let progressed = false;
  await withRetry(
    async () => {
      unreachable = false;
      while (acked < end) {
        const round = await shipRound({ log: opts.log, send: opts.send, from: acked, end: () => end, chunkMaxBytes: opts.chunkMaxBytes, inFlight: opts.inFlight });
        if (round.kind === 'done') return;
        if (round.kind === 'resync') {
          acked = round.from;
          continue;
        }
        if (round.kind === 'retry') {
          unreachable = true;
          progressed = round.acked > acked;
          acked = round.acked;
        }
        throw round.err;
      }
    },
    { signal: opts.signal, judge: () => (unreachable ? { retry: RETRY.logShip.backoff, afresh: progressed } : 'give-up') },
  );
  return end;
}
