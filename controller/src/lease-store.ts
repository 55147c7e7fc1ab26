// The agent's side of the inbox: register, claim under a lease, heartbeat, renew, log, step, complete.
// Every lease-protected call is fenced by epoch inside its script.
import {
  LOG_TAIL_MAX_BYTES,
  type ClaimedJob,
  type CompleteBatchItem,
  type CompleteItemStatus,
  type CompleteRequest,
  type HeartbeatRequest,
  type LeaseStatus,
  type LogTail,
  type RegisterRequest,
  type StepUpdate,
} from '../../src/shared/protocol/agent-api.js';
import { HttpAgentError } from '../../src/shared/errors.js';
import { stepSpecSchema } from '../../src/shared/protocol/job.js';
import { z } from 'zod';
import type { RedisLike, RunScript } from './commands.js';
import { createLogAppender } from './log-append.js';
import type { Keys } from './keys.js';
import { expectOk } from './script-errors.js';

export interface LeaseStoreOptions {
  leaseMs: number;
  retentionSec: number;
  logCapBytes: number;
  /** Expired leases a claim reaps before popping (the sweeper does the rest). */
  reapInClaim: number;
  /** For log appends whose bytes skip Lua (log-append.ts); without it every append runs one script. */
  redis?: RedisLike;
}

export interface ClaimResult {
  jobs: ClaimedJob[];
  labels: Record<string, string>;
  /** A woken claim found the agent silent (no heartbeat for half its lease): nothing was handed out. */
  silent?: true;
}

const stepsSchema = z.array(stepSpecSchema);

/** A claim reply after 'ok' (now, labels JSON, then 7 values per job) → the jobs. */
function parseClaimed(rest: unknown[]): ClaimedJob[] {
  const jobs: ClaimedJob[] = [];
  for (let i = 2; i < rest.length; i += 7) {
    jobs.push({
      id: String(rest[i]),
      epoch: Number(rest[i + 1]),
      attempt: Number(rest[i + 2]),
      steps: stepsSchema.parse(JSON.parse(String(rest[i + 3]))),
      timeoutSec: rest[i + 4] === '' || rest[i + 4] === null ? null : Number(rest[i + 4]),
      logOffset: Number(rest[i + 5]),
      leaseMs: Number(rest[i + 6]),
    });
  }
  return jobs;
}

export type CompleteItem = CompleteBatchItem;
export type ClaimPart = NonNullable<CompleteRequest['claim']>;
export interface CompleteItemResult {
  id: string;
  status: CompleteItemStatus;
  expected?: number;
}
export interface CompleteManyResult {
  results: CompleteItemResult[];
  /** Present when the claim part ran. */
  jobs?: ClaimedJob[];
}

const itemStatus: Record<string, CompleteItemStatus> = {
  accepted: 'accepted',
  duplicate: 'duplicate',
  STALE_EPOCH: 'stale',
  JOB_NOT_FOUND: 'not_found',
  LOG_INCOMPLETE: 'log_incomplete',
};

/** A log tail's bytes (base64 or utf8 text), refused past LOG_TAIL_MAX_BYTES. */
function decodeTail(tail: LogTail): Buffer {
  const bytes = Buffer.from(tail.data, tail.encoding === 'base64' ? 'base64' : 'utf8');
  if (bytes.length > LOG_TAIL_MAX_BYTES) {
    throw new HttpAgentError('LOG_TAIL_TOO_LARGE', `a log tail carries at most ${LOG_TAIL_MAX_BYTES} bytes; append the rest`);
  }
  return bytes;
}

export function createLeaseStore(run: RunScript, keys: Keys, opts: LeaseStoreOptions) {
  const register = async (req: RegisterRequest): Promise<{ leaseMs: number; serverTime: number }> => {
    const leaseMs = Math.min(req.leaseMs, opts.leaseMs);
    const fields = [
      'hostname', req.hostname,
      'addresses', JSON.stringify(req.addresses),
      'port', req.port,
      'version', req.version,
      'commit', req.commit ?? '',
      'labels', JSON.stringify(req.labels),
      'capacity', req.capacity,
      'leaseMs', leaseMs,
    ];
    const now = await run('register', [keys.agent(req.agentId), keys.agents], [req.agentId, opts.retentionSec, ...fields]);
    return { leaseMs, serverTime: Number(now) };
  };

  /** `woken`: re-run for a waiting long-poll after a wake-up, not sent by the agent just now. */
  const claim = async (agentId: string, max: number, claimId: string, woken = false): Promise<ClaimResult> => {
    const reply = await run(
      'claim',
      [keys.base, keys.agent(agentId), keys.leases, keys.selectors, keys.claimMemo(agentId, claimId)],
      [agentId, max, 2 * opts.leaseMs + 10_000, opts.reapInClaim, opts.retentionSec, keys.wakeChannel, opts.logCapBytes, woken ? 1 : 0],
    );
    // Not an error: the long-poll just ends empty (its agent, if alive after all, simply claims again).
    if (Array.isArray(reply) && reply[0] === 'AGENT_SILENT') return { jobs: [], labels: JSON.parse(String(reply[2])) as Record<string, string>, silent: true };
    const rest = expectOk(reply, { agentId });
    const labels = JSON.parse(String(rest[1])) as Record<string, string>;
    return { jobs: parseClaimed(rest), labels };
  };

  const heartbeat = async (req: HeartbeatRequest): Promise<{ leases: Record<string, LeaseStatus>; serverTime: number }> => {
    const pairs = req.leases.flatMap((l) => [l.id, l.epoch]);
    const reply = await run('heartbeat', [keys.base, keys.agent(req.agentId), keys.agents, keys.leases], [req.agentId, req.state, req.running, opts.retentionSec, ...pairs]);
    const [now, ...statuses] = expectOk(reply, { agentId: req.agentId });
    const leases: Record<string, LeaseStatus> = {};
    req.leases.forEach((l, i) => {
      leases[l.id] = statuses[i] as LeaseStatus;
    });
    return { leases, serverTime: Number(now) };
  };

  const renew = async (id: string, epoch: number): Promise<'ok' | 'cancel'> => {
    const [cancel] = expectOk(await run('renew', [keys.job(id), keys.leases], [id, epoch]), { jobId: id });
    return Number(cancel) === 1 ? 'cancel' : 'ok';
  };

  const appendLog = createLogAppender(opts.redis, run, keys, { logCapBytes: opts.logCapBytes });

  const step = async (id: string, update: StepUpdate): Promise<{ cancel: boolean }> => {
    const { epoch, index, ...status } = update;
    const json = JSON.stringify({ exitCode: null, startedAt: null, finishedAt: null, ...status });
    const [cancel] = expectOk(await run('step', [keys.job(id)], [epoch, index, json]), { jobId: id });
    return { cancel: Number(cancel) === 1 };
  };

  /**
   * Judges each result on its own and, with `claim`, claims the next jobs, all in one script.
   * claimWhen 'ok': claim only if every result was accepted or a duplicate (a single complete answers a
   * refusal as an error, so it must not have claimed); 'all': claim whatever the results (batched complete).
   */
  const completeMany = async (items: CompleteItem[], claim?: ClaimPart, claimWhen: 'ok' | 'all' = 'all'): Promise<CompleteManyResult> => {
    const args: (string | number | Buffer)[] = [opts.retentionSec, opts.logCapBytes, items.length, claim ? claimWhen : ''];
    args.push(claim?.agentId ?? '', claim?.max ?? 0, 2 * opts.leaseMs + 10_000, opts.reapInClaim, keys.wakeChannel);
    for (const it of items) {
      const tail = it.logTail ? decodeTail(it.logTail) : undefined;
      args.push(it.id, it.epoch, it.outcome, it.error ?? '', it.logBytes, it.logTail ? it.logTail.offset : '', tail ?? '', it.steps.length);
      for (const st of it.steps) args.push(JSON.stringify(st));
    }
    // Without a claim the agent and memo keys are unused; any key of the slot keeps Cluster routing right.
    const agentKey = claim ? keys.agent(claim.agentId) : keys.leases;
    const memoKey = claim ? keys.claimMemo(claim.agentId, claim.claimId) : keys.leases;
    const reply = await run('completeClaim', [keys.base, keys.leases, agentKey, keys.selectors, memoKey], args);
    const rest = expectOk(reply, { agentId: claim?.agentId });
    const n = Number(rest[0]);
    const results: CompleteItemResult[] = [];
    for (let i = 0; i < n; i++) {
      const status = String(rest[1 + 2 * i]);
      const held = Number(rest[2 + 2 * i]);
      results.push({ id: items[i]!.id, status: itemStatus[status] ?? 'stale', ...(status === 'LOG_INCOMPLETE' ? { expected: held } : {}) });
    }
    const tail = rest.slice(1 + 2 * n);
    if (tail.length === 0) return { results };
    return { results, jobs: parseClaimed(expectOk(tail, { agentId: claim?.agentId })) };
  };

  /** One result (POST /v1/agent/jobs/:id/complete): a refusal is thrown as the error it stands for. */
  const complete = async (id: string, req: CompleteRequest): Promise<{ duplicate: boolean; jobs?: ClaimedJob[] }> => {
    const { claim, ...result } = req;
    const { results, jobs } = await completeMany([{ ...result, id }], claim, 'ok');
    const r = results[0]!;
    if (r.status === 'not_found') expectOk(['JOB_NOT_FOUND'], { jobId: id });
    if (r.status === 'stale') expectOk(['STALE_EPOCH'], { jobId: id });
    if (r.status === 'log_incomplete') expectOk(['LOG_INCOMPLETE', r.expected], { jobId: id });
    return { duplicate: r.status === 'duplicate', ...(jobs ? { jobs } : {}) };
  };

  return { register, claim, heartbeat, renew, appendLog, step, complete, completeMany };
}

export type LeaseStore = ReturnType<typeof createLeaseStore>;
