// Delivers a spooled result: the rest of the log, then complete, retried until the controller takes it
// or says another attempt owns the job. Used for jobs that just ended and for spools left by an
// earlier run, so both follow the same path.
import { setTimeout as sleep } from 'node:timers/promises';
import type { JobsResource } from '../controller-client/jobs.js';
import { backoffMs, decide, expectedOffset } from '../controller-client/retry-policy.js';
import type { Logger } from '../log.js';
import type { ClaimedJob, CompleteRequest } from '../protocol/agent-api.js';
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
}

export async function deliverResult(input: DeliveryInput, deps: DeliveryDeps): Promise<DeliveryOutcome> {
  const { spool, log, result } = input;
  const id = spool.meta.id;
  const send = (offset: number, bytes: Buffer) => deps.jobs.appendLog(id, result.epoch, offset, bytes);
  let from = input.logAcked;
  let failures = 0;
  const done = async (status: DeliveryStatus, jobs: ClaimedJob[] = []): Promise<DeliveryOutcome> => {
    if (status !== 'kept') {
      await log.close().catch(() => undefined);
      await spool.remove();
    }
    return { status, jobs };
  };

  for (;;) {
    try {
      if (from < result.logBytes) await shipAll({ log, send, from, chunkMaxBytes: deps.chunkMaxBytes, signal: deps.signal, logger: deps.logger });
      from = result.logBytes;
      const reply = await deps.jobs.complete(id, { ...result, ...(input.claim ? { claim: input.claim } : {}) });
      deps.logger.info({ outcome: result.outcome, duplicate: reply.duplicate ?? false }, 'result delivered');
      return await done('accepted', reply.jobs ?? []);
    } catch (err) {
      const d = decide(err);
      if (d === 'stale') {
        deps.logger.warn('result refused: another attempt owns the job');
        return await done('stale');
      }
      if (d === 'resync') {
        // LOG_INCOMPLETE: the controller lacks log bytes from `expected` on; send them and complete again.
        const expected = expectedOffset(err);
        if (expected !== undefined && expected < result.logBytes) {
          from = expected;
          continue;
        }
      }
      if (d === 'fail') {
        deps.logger.error({ err }, 'result refused by the controller; kept in the spool');
        return await done('kept');
      }
      if (deps.signal?.aborted) return await done('kept');
      const delay = backoffMs(failures++, { baseMs: 200, capMs: 5_000 });
      if (failures === 1 || failures % 20 === 0) deps.logger.warn({ err, failures }, 'controller unreachable; result stays spooled, retrying');
      await sleep(delay, undefined, { signal: deps.signal }).catch(() => undefined);
    }
  }
}
