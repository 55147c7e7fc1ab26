// The agent's side of the inbox: register, claim under a lease, heartbeat, renew, log, step, complete.
// Every lease-protected call is fenced inside its script by epoch and by the lease's agent (the caller,
// as its credential proved), and a claim by the caller's credential still being the live one.
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
import type { RedisLike, RunScript } from './commands.js';
import { createLogAppender } from './log-append.js';
import type { Keys } from './keys.js';
import type { ScriptReply } from './script-contracts.js';
import { scriptError } from './script-errors.js';
import type { WaiterClaim } from './wake-hub.js';

export interface LeaseStoreOptions {
  leaseMs: number;
  retentionSec: number;
  logCapBytes: number;
  /** Silence after which an agent is shown offline: a heartbeat after longer announces it back. */
  offlineAfterMs: number;
  /** Expired leases a claim reaps before popping (the sweeper does the rest). */
  reapInClaim: number;
  /** For log appends whose bytes skip Lua (log-append.ts); without it every append runs one script. */
  redis?: RedisLike;
}

/** Who is calling, as the auth hook proved it: the agent and the SHA-256 (hex) of its credential's secret. */
export interface Caller {
  agentId: string;
  credentialHash: string;
}

export interface ClaimResult {
  jobs: ClaimedJob[];
  labels: Record<string, string>;
  /** A woken claim found the agent silent (no heartbeat for half its lease): nothing was handed out. */
  silent?: true;
  /** The platform drained the agent: it gets no new job until resumed. */
  drained?: true;
}

/** A claim's reply → the jobs as the agent API hands them out (each with the agent's lease). */
function claimedJobs(reply: ScriptReply<'claim'>): ClaimedJob[] {
  return reply.jobs.map((j) => ({
    id: j.id,
    epoch: j.epoch,
    attempt: j.attempt,
    steps: j.steps,
    timeoutSec: j.timeoutSec ?? null,
    logOffset: j.logOffset,
    leaseMs: reply.leaseMs,
  }));
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

const itemStatus = {
  accepted: 'accepted',
  duplicate: 'duplicate',
  STALE_EPOCH: 'stale',
  JOB_NOT_FOUND: 'not_found',
  LOG_INCOMPLETE: 'log_incomplete',
} as const satisfies Record<ScriptReply<'completeClaim'>['results'][number]['status'], CompleteItemStatus>;

/** A log tail's bytes (base64 or utf8 text), refused past LOG_TAIL_MAX_BYTES. */
function decodeTail(tail: LogTail): Buffer {
  const bytes = Buffer.from(tail.data, tail.encoding === 'base64' ? 'base64' : 'utf8');
  if (bytes.length > LOG_TAIL_MAX_BYTES) {
    throw new HttpAgentError('LOG_TAIL_TOO_LARGE', `a log tail carries at most ${LOG_TAIL_MAX_BYTES} bytes; append the rest`);
  }
  return bytes;
}

export function createLeaseStore(run: RunScript, keys: Keys, opts: LeaseStoreOptions) {
  /** How long a claim memo answers a repeated claimId: past any retry of that claim. */
  const memoTtlMs = 2 * opts.leaseMs + 10_000;

  const register = async (req: RegisterRequest): Promise<{ leaseMs: number; serverTime: number }> => {
    const leaseMs = Math.min(req.leaseMs, opts.leaseMs);
    const agent = {
      hostname: req.hostname,
      addresses: JSON.stringify(req.addresses),
      port: req.port,
      version: req.version,
      commit: req.commit ?? '',
      labels: JSON.stringify(req.labels),
      capacity: req.capacity,
      leaseMs,
    };
    const { now } = await run('register', [keys.agent(req.agentId), keys.agents], { agentId: req.agentId, ttlSec: opts.retentionSec, agent });
    return { leaseMs, serverTime: now };
  };

  const claimArgs = <W extends boolean>(caller: Caller, max: number, woken: W) => ({
    agentId: caller.agentId,
    max,
    memoTtlMs,
    reapLimit: opts.reapInClaim,
    wakeChannel: keys.wakeChannel,
    woken,
    retentionSec: opts.retentionSec,
    logCapBytes: opts.logCapBytes,
    credentialHash: caller.credentialHash,
  });

  /** A claim script's reply → what the claim answers. */
  const claimResult = (reply: ScriptReply<'claim'>): ClaimResult =>
    // Not an error: the long-poll just ends empty (its agent, if alive after all, simply claims again).
    reply.silent
      ? { jobs: [], labels: reply.labels, silent: true }
      : { jobs: claimedJobs(reply), labels: reply.labels, ...(reply.drained ? { drained: true as const } : {}) };

  /** `woken`: re-run for a waiting long-poll after a wake-up, not sent by the agent just now. */
  const claim = async (caller: Caller, max: number, claimId: string, woken = false): Promise<ClaimResult> => {
    const { agentId } = caller;
    const reply = await run(
      'claim',
      [keys.base, keys.agent(agentId), keys.leases, keys.selectors, keys.claimMemo(agentId, claimId), keys.credential(agentId)],
      claimArgs(caller, max, woken),
      { agentId },
    );
    return claimResult(reply);
  };

  /** What an enqueue on this controller needs to claim for this waiting long-poll itself (wake-hub.ts take). */
  const waitingClaim = (caller: Caller, max: number, claimId: string): WaiterClaim => ({ claimId, args: claimArgs(caller, max, true) });

  const heartbeat = async (req: HeartbeatRequest): Promise<{ leases: Record<string, LeaseStatus>; serverTime: number }> => {
    const reply = await run(
      'heartbeat',
      [keys.base, keys.agent(req.agentId), keys.agents, keys.leases],
      { agentId: req.agentId, state: req.state, running: req.running, ttlSec: opts.retentionSec, quietMs: opts.offlineAfterMs, leases: req.leases },
      { agentId: req.agentId },
    );
    return { leases: reply.leases, serverTime: reply.now };
  };

  const renew = async (id: string, epoch: number, agentId: string): Promise<'ok' | 'cancel'> => {
    const { cancel } = await run('renew', [keys.job(id), keys.leases], { jobId: id, epoch, agentId }, { jobId: id });
    return cancel ? 'cancel' : 'ok';
  };

  const appendLog = createLogAppender(opts.redis, run, keys, { logCapBytes: opts.logCapBytes });

  const step = async (id: string, update: StepUpdate, agentId: string): Promise<{ cancel: boolean }> => {
    const { epoch, index, ...status } = update;
    const json = JSON.stringify({ exitCode: null, startedAt: null, finishedAt: null, ...status });
    return run('step', [keys.job(id), keys.base], { jobId: id, epoch, index, state: status.state, status: json, agentId }, { jobId: id });
  };

  /**
   * Judges each result on its own and, with `claim`, claims the next jobs, all in one script.
   * claimWhen 'ok': claim only if every result was accepted or a duplicate (a single complete answers a
   * refusal as an error, so it must not have claimed); 'all': claim whatever the results (batched complete).
   */
  const completeMany = async (caller: Caller, items: CompleteItem[], claim?: ClaimPart, claimWhen: 'ok' | 'all' = 'all'): Promise<CompleteManyResult> => {
    // Tails ride as raw bytes in ARGV[2], ARGV[3], ...; each result names its own.
    const tails: Buffer[] = [];
    const results = items.map((it) => {
      let tail: { offset: number; arg: number } | undefined;
      if (it.logTail) {
        tails.push(decodeTail(it.logTail));
        tail = { offset: it.logTail.offset, arg: 1 + tails.length };
      }
      return {
        id: it.id,
        epoch: it.epoch,
        outcome: it.outcome,
        ...(it.error ? { error: it.error } : {}),
        logBytes: it.logBytes,
        ...(tail ? { tail } : {}),
        steps: it.steps.map((st) => JSON.stringify(st)),
      };
    });
    const claimArgs = claim
      ? {
          agentId: claim.agentId,
          max: claim.max,
          memoTtlMs,
          reapLimit: opts.reapInClaim,
          wakeChannel: keys.wakeChannel,
          when: claimWhen,
          credentialHash: caller.credentialHash,
        }
      : undefined;
    // Without a claim the agent, memo and credential keys are unused; any key of the slot keeps Cluster routing right.
    const agentKey = claim ? keys.agent(claim.agentId) : keys.leases;
    const memoKey = claim ? keys.claimMemo(claim.agentId, claim.claimId) : keys.leases;
    const credentialKey = claim ? keys.credential(claim.agentId) : keys.leases;
    const reply = await run(
      'completeClaim',
      [keys.base, keys.leases, agentKey, keys.selectors, memoKey, credentialKey],
      { agentId: caller.agentId, retentionSec: opts.retentionSec, logCapBytes: opts.logCapBytes, results, ...(claimArgs ? { claim: claimArgs } : {}) },
      { agentId: caller.agentId, ...(items.length === 1 ? { jobId: items[0]!.id } : {}), bytes: tails },
    );
    const out: CompleteItemResult[] = reply.results.map((r, i) => ({
      id: items[i]!.id,
      status: itemStatus[r.status],
      ...(r.status === 'LOG_INCOMPLETE' ? { expected: r.expected } : {}),
    }));
    return reply.claim ? { results: out, jobs: claimedJobs(reply.claim) } : { results: out };
  };

  /** One result (POST /v1/agent/jobs/:id/complete): a refusal is thrown as the error it stands for. */
  const complete = async (caller: Caller, id: string, req: CompleteRequest): Promise<{ duplicate: boolean; jobs?: ClaimedJob[] }> => {
    const { claim, ...result } = req;
    const { results, jobs } = await completeMany(caller, [{ ...result, id }], claim, 'ok');
    const r = results[0]!;
    if (r.status === 'not_found') throw scriptError('JOB_NOT_FOUND', { jobId: id });
    if (r.status === 'stale') throw scriptError('STALE_EPOCH', { jobId: id });
    if (r.status === 'log_incomplete') throw scriptError('LOG_INCOMPLETE', { jobId: id }, r.expected);
    return { duplicate: r.status === 'duplicate', ...(jobs ? { jobs } : {}) };
  };

  return { register, claim, claimResult, waitingClaim, heartbeat, renew, appendLog, step, complete, completeMany };
}

export type LeaseStore = ReturnType<typeof createLeaseStore>;
