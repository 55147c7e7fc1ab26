// The agent's side of the inbox: register, claim under a lease, heartbeat, renew, log, step, complete.
// Every lease-protected call is fenced by epoch inside its script.
import type { ClaimedJob, CompleteRequest, HeartbeatRequest, LeaseStatus, RegisterRequest, StepUpdate } from '../../src/protocol/agent-api.js';
import { stepSpecSchema } from '../../src/protocol/job.js';
import { z } from 'zod';
import type { RunScript } from './commands.js';
import type { Keys } from './keys.js';
import { expectOk } from './script-errors.js';

export interface LeaseStoreOptions {
  leaseMs: number;
  retentionSec: number;
  logCapBytes: number;
  /** Expired leases a claim reaps before popping (the sweeper does the rest). */
  reapInClaim: number;
}

export interface ClaimResult {
  jobs: ClaimedJob[];
  labels: Record<string, string>;
  /** A woken claim found the agent silent (no heartbeat for half its lease): nothing was handed out. */
  silent?: true;
}

const stepsSchema = z.array(stepSpecSchema);

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
    return { jobs, labels };
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

  const appendLog = async (id: string, epoch: number, offset: number, bytes: Buffer): Promise<{ offset: number; cancel: boolean }> => {
    const reply = await run('appendLog', [keys.job(id), keys.log(id), keys.leases], [id, epoch, offset, bytes, opts.logCapBytes]);
    const [end, cancel] = expectOk(reply, { jobId: id });
    return { offset: Number(end), cancel: Number(cancel) === 1 };
  };

  const step = async (id: string, update: StepUpdate): Promise<{ cancel: boolean }> => {
    const { epoch, index, ...status } = update;
    const json = JSON.stringify({ exitCode: null, startedAt: null, finishedAt: null, ...status });
    const [cancel] = expectOk(await run('step', [keys.job(id)], [epoch, index, json]), { jobId: id });
    return { cancel: Number(cancel) === 1 };
  };

  const complete = async (id: string, req: CompleteRequest): Promise<{ duplicate: boolean }> => {
    const steps = req.steps.map((s) => JSON.stringify(s));
    const reply = await run('complete', [keys.base, keys.job(id), keys.log(id), keys.leases], [
      id,
      req.epoch,
      req.outcome,
      req.error ?? '',
      req.logBytes,
      opts.retentionSec,
      ...steps,
    ]);
    const [duplicate] = expectOk(reply, { jobId: id });
    return { duplicate: Number(duplicate) === 1 };
  };

  return { register, claim, heartbeat, renew, appendLog, step, complete };
}

export type LeaseStore = ReturnType<typeof createLeaseStore>;
