// Delivers a spooled result: the rest of the log (a short rest riding on the complete as its tail), then
// complete (alone or batched with others), retried until the controller takes it or says another
// attempt owns the job. Used for jobs that just ended and for spools left by an
// earlier run, so both follow the same path.
import type { JobsResource } from '../controller-client/jobs.js';
import { RETRY, decide, expectedOffset } from '../../shared/retry-policy.js';
import { withRetry, type RetryVerdict } from '../../shared/retry.js';
import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../shared/log.js';
import type { ClaimedJob, CompleteRequest, LogTail } from '../../shared/protocol/agent-api.js';
import { completeOne, type CompleteBatcher, type CompleteItemReply } from './complete-batcher.js';
import type { JobLog } from './job-log.js';
import { shipAll } from './log-streamer.js';
import type { JobSpool, SpooledResult } from './result-spool.js';

export interface DeliveryInput {
  spool: JobSpool;
  log: JobLog;
  result: SpooledResult;
  /** Bytes the controller is known to hold; 0 when unknown (it skips the overlap). */
  logAcked: number;
  /** Asks for the next jobs in the same round trip; kept identical across retries (same claimId). */
  claim?: CompleteRequest['claim'];
}

/**
 * accepted: the controller has the result (or already had it) · stale: another attempt owns the job,
 * the result is dropped · kept: stopped before delivery (agent stopping, or a refusal), the spool stays.
 */
export type DeliveryStatus = 'accepted' | 'stale' | 'kept';

export interface DeliveryOutcome {
  status: DeliveryStatus;
  /** Jobs handed out with the complete (complete-and-claim). */
  jobs: ClaimedJob[];
}

export interface DeliveryDeps {
  jobs: JobsResource;
  chunkMaxBytes: number;
  logger: Logger;
  /** Aborted when the agent stops for good: the spool stays for the next start. */
  signal?: AbortSignal;
  /** Batches this result with others ending together (complete-batcher.ts); without it, one call per result. */
  batcher?: CompleteBatcher;
  /** A log rest up to this many bytes rides on the complete as its logTail (0: always shipped first). */
  tailMaxBytes?: number;
}

/** Default bound on the log tail a complete carries: a short job's whole output, or a long one's last lines. */
export const DEFAULT_TAIL_MAX_BYTES = 16 * 1024;

/** The log from `from` to `end` as a complete's tail (utf8 text when it is valid UTF-8). */
async function readTail(log: JobLog, from: number, end: number): Promise<LogTail> {
  const bytes = await log.read(from, end - from);
  if (bytes.length !== end - from) throw new Error(`log spool shorter than its result says (${from + bytes.length} < ${end})`);
  return isUtf8(bytes) ? { offset: from, data: bytes.toString('utf8') } : { offset: from, data: bytes.toString('base64'), encoding: 'base64' };
}

export async function deliverResult(input: DeliveryInput, deps: DeliveryDeps): Promise<DeliveryOutcome> {
  const { spool, log, result } = input;
  const id = spool.meta.id;
  const send = (offset: number, bytes: Buffer) => deps.jobs.appendLog(id, result.epoch, offset, bytes);
  const tailMax = deps.tailMaxBytes ?? DEFAULT_TAIL_MAX_BYTES;
  let from = input.logAcked;
  // Jobs a reply already brought (a batch hands them out even with a refusal): kept, and not asked for again.
  const got: ClaimedJob[] = [];
  let claim = input.claim;
  const done = async (status: DeliveryStatus): Promise<DeliveryOutcome> => {
    if (status !== 'kept') {
      await log.close().catch(() => undefined);
      await spool.remove();
    }
    return { status, jobs: got };
  };

  /** One try: the rest of the log (a short rest as the complete's tail, a long one shipped first), then the complete. */
  const attempt = async (): Promise<CompleteItemReply> => {
    let tail: LogTail | undefined;
    if (from < result.logBytes && result.logBytes - from <= tailMax) tail = await readTail(log, from, result.logBytes);
    else if (from < result.logBytes) await shipAll({ log, send, from, chunkMaxBytes: deps.chunkMaxBytes, signal: deps.signal, logger: deps.logger });
    from = result.logBytes;
    const req: CompleteRequest = { ...result, ...(tail ? { logTail: tail } : {}), ...(claim ? { claim } : {}) };
    try {
      return deps.batcher ? await deps.batcher.complete(id, req) : await completeOne(deps.jobs, id, req);
    } catch (err) {
      if (tail) from = tail.offset; // the tail was not taken: it goes again (or is shipped) on the retry
      throw err;
    }
  };

  const judge = (err: unknown, failures: number): RetryVerdict => {
    const d = decide(err);
    if (d === 'stale' || d === 'fail') return 'give-up';
    if (d === 'resync') {
      // LOG_INCOMPLETE while shipping: the controller lacks log bytes from `expected` on.
      const expected = expectedOffset(err);
      if (expected !== undefined && expected < result.logBytes) {
        from = expected;
        return 'retry-now';
      }
    }
    if (failures % 20 === 0) deps.logger.warn({ err, failures: failures + 1 }, 'controller unreachable; result stays spooled, retrying');
    return 'retry';
  };

  for (;;) {
    let reply: CompleteItemReply;
    try {
      reply = await withRetry(attempt, { ...RETRY.delivery, signal: deps.signal, judge });
    } catch (err) {
      const d = decide(err);
      if (d === 'stale') {
        deps.logger.warn('result refused: another attempt owns the job');
        return await done('stale');
      }
      if (d === 'fail') deps.logger.error({ err }, 'result refused by the controller; kept in the spool');
      return await done('kept'); // refused, or the agent is stopping
    }
    // A complete sent again (log_incomplete) asks only for the slots still free, under a new claimId.
    if (claim && reply.jobs.length > 0) claim = claim.max > reply.jobs.length ? { ...claim, max: claim.max - reply.jobs.length, claimId: randomUUID() } : undefined;
    got.push(...reply.jobs);
    if (reply.status === 'accepted' || reply.status === 'duplicate') {
      deps.logger.info({ outcome: result.outcome, duplicate: reply.status === 'duplicate' }, 'result delivered');
      return await done('accepted');
    }
    if (reply.status === 'stale' || reply.status === 'not_found') {
      deps.logger.warn('result refused: another attempt owns the job');
      return await done('stale');
    }
    // log_incomplete: the controller lacks log bytes from `expected` on; send them and complete again.
    if (reply.expected !== undefined && reply.expected < result.logBytes) {
      from = reply.expected;
      continue;
    }
    deps.logger.error({ expected: reply.expected }, 'result refused: the controller says the log is short, but it holds it all; kept in the spool');
    return await done('kept');
  }
}
