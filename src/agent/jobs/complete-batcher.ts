// Coalesces the results of jobs that end together into one batched complete-and-claim
// (POST /v1/agent/complete): while a batch is on the wire the next results gather, so an idle agent
// adds no delay and a busy one sends one request and one controller script for many jobs.
import { randomUUID } from 'node:crypto';
import type { JobsResource } from '../controller-client/jobs.js';
import { RETRY, expectedOffset } from '../../shared/retry-policy.js';
import { withRetry } from '../../shared/retry.js';
import { HttpAgentError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type {
  ClaimedJob,
  CompleteBatchItem,
  CompleteBatchRequest,
  CompleteBatchResponse,
  CompleteItemStatus,
  CompleteRequest,
} from '../../shared/protocol/agent-api.js';

/** One result's answer: its status and its share of the jobs the batch claimed (never more than its `claim.max`). */
export interface CompleteItemReply {
  status: CompleteItemStatus;
  expected?: number | undefined;
  jobs: ClaimedJob[];
}

export interface CompleteBatcher {
  /** Queues one result (with its own claim, if any) for the next batch. */
  complete(id: string, req: CompleteRequest): Promise<CompleteItemReply>;
}

/** A single complete's answer (or refusal) as a batched result's status, so both paths read alike. */
export async function completeOne(jobs: Pick<JobsResource, 'complete'>, id: string, req: CompleteRequest): Promise<CompleteItemReply> {
  try {
    const reply = await jobs.complete(id, req);
    return { status: reply.duplicate ? 'duplicate' : 'accepted', jobs: reply.jobs ?? [] };
  } catch (err) {
    const code = err instanceof HttpAgentError ? err.code : undefined;
    if (code === 'STALE_EPOCH') return { status: 'stale', jobs: [] };
    if (code === 'JOB_NOT_FOUND') return { status: 'not_found', jobs: [] };
    if (code === 'LOG_INCOMPLETE') return { status: 'log_incomplete', expected: expectedOffset(err), jobs: [] };
    throw err;
  }
}

export interface CompleteBatcherOptions {
  send(req: CompleteBatchRequest): Promise<CompleteBatchResponse>;
  logger: Logger;
  /** Aborted when the agent stops for good: a batch being retried gives up (its results stay spooled). */
  signal?: AbortSignal | undefined;
  /** Most results per batch. */
  maxItems?: number;
  /** Rough bound on a batch's JSON size (log tails are most of it). */
  maxBytes?: number;
}

interface Pending {
  item: CompleteBatchItem;
  max: number;
  agentId: string | undefined;
  bytes: number;
  resolve(r: CompleteItemReply): void;
  reject(err: unknown): void;
}

export function createCompleteBatcher(opts: CompleteBatcherOptions): CompleteBatcher {
  const maxItems = opts.maxItems ?? 64;
  const maxBytes = opts.maxBytes ?? 1024 * 1024;
  let queue: Pending[] = [];
  let inFlight = false;
  let scheduled = false;

  const take = (): Pending[] => {
    let bytes = 0;
    let n = 0;
    while (n < queue.length && n < maxItems && (n === 0 || bytes + queue[n]!.bytes <= maxBytes)) bytes += queue[n++]!.bytes;
    const batch = queue.slice(0, n);
    queue = queue.slice(n);
    return batch;
  };

  /** Sends one batch, retrying it as is (same claimId) while the controller is unreachable. */
  const sendBatch = async (batch: Pending[]): Promise<void> => {
    const max = batch.reduce((s, p) => s + p.max, 0);
    const agentId = batch.find((p) => p.agentId)?.agentId;
    const req: CompleteBatchRequest = {
      results: batch.map((p) => p.item),
      ...(max > 0 && agentId ? { claim: { agentId, max: Math.min(max, 1024), claimId: randomUUID() } } : {}),
    };
    let reply: CompleteBatchResponse;
    try {
      reply = await withRetry(() => opts.send(req), {
        ...RETRY.delivery,
        signal: opts.signal,
        onRetry: (err, attempt) => {
          if (attempt % 20 === 0) opts.logger.warn({ err, results: batch.length }, 'controller unreachable; batched results stay spooled, retrying');
        },
      });
    } catch (err) {
      for (const p of batch) p.reject(err);
      return;
    }
    // Each result takes its share of the claimed jobs in order, whatever its status: the jobs are leased
    // to this agent now, and the caller reserved a slot for each.
    const jobs = [...(reply.jobs ?? [])];
    batch.forEach((p, i) => {
      const r = reply.results[i];
      const share = jobs.splice(0, p.max);
      if (!r || r.id !== p.item.id) {
        p.reject(new HttpAgentError('CONTROLLER_BAD_REPLY', 'the batched complete answered results out of order'));
        return;
      }
      p.resolve({ status: r.status, expected: r.expected, jobs: share });
    });
    if (jobs.length > 0) opts.logger.error({ extra: jobs.length }, 'a batched complete brought more jobs than asked for; their leases will lapse');
  };

  const pump = () => {
    scheduled = false;
    if (inFlight || queue.length === 0) return;
    inFlight = true;
    void sendBatch(take()).finally(() => {
      inFlight = false;
      pump();
    });
  };

  return {
    complete(id, req) {
      const { claim, ...result } = req;
      const item: CompleteBatchItem = { ...result, id };
      return new Promise<CompleteItemReply>((resolve, reject) => {
        queue.push({ item, max: claim?.max ?? 0, agentId: claim?.agentId, bytes: 512 + (result.logTail?.data.length ?? 0), resolve, reject });
        // Results that end in the same turn of the event loop go together; later ones wait for the
        // batch on the wire.
        if (!scheduled && !inFlight) {
          scheduled = true;
          setImmediate(pump);
        }
      });
    },
  };
}
