// Long-polls the controller for jobs, asking for as many as there are free slots. A claim in flight is
// never aborted (a drain waits for it and runs what it brings), and a claim retried after a network
// error reuses its claimId, so a reply lost on the wire never orphans a job.
import { randomUUID } from 'node:crypto';
import type { ClaimsResource } from '../controller-client/claims.js';
import { RETRY, credentialRevoked, decide } from '../../shared/retry-policy.js';
import { withRetry } from '../../shared/retry.js';
import type { Logger } from '../../shared/log.js';
import type { ClaimedJob } from '../../shared/protocol/agent-api.js';
import type { ClaimPause } from './claim-pause.js';
import type { Registration } from './registration.js';
import type { SlotPool } from './slot-pool.js';

export interface ClaimLoopOptions {
  agentId: string;
  claims: ClaimsResource;
  registration: Registration;
  slots: SlotPool;
  /** False once the agent drains or stops: no new claim starts. */
  claiming: () => boolean;
  /** Paused (self-update): the loop waits at its gate instead of claiming, and does not exit. */
  pause: ClaimPause;
  /** The most the agent asks the controller to hold a claim open. */
  claimWaitMs: number;
  /** Jobs handed out; each uses one of the slots the claim reserved. */
  onJobs: (jobs: ClaimedJob[]) => void;
  onReachable: (reachable: boolean) => void;
  logger: Logger;
}

/** Once claiming has stopped, a claim still failing is given up after this many more tries. */
const TRIES_WHEN_STOPPING = 3;

export async function runClaimLoop(opts: ClaimLoopOptions): Promise<void> {
  while (opts.claiming()) {
    await opts.slots.waitFree();
    if (!opts.claiming()) break;
    if (opts.pause.paused) {
      // Woken by resume() or by a drain/stop opening the gate; the loop's condition tells which.
      await opts.pause.gate();
      continue;
    }
    const max = opts.slots.reserveAll();
    if (max === 0) continue;
    // The jobs start inside `during`, so a pause that waits for this claim also sees them running.
    await opts.pause.during(async () => {
      let jobs: ClaimedJob[] = [];
      try {
        jobs = await claimOnce(opts, max);
      } finally {
        opts.slots.release(max - jobs.length);
      }
      if (jobs.length > 0) opts.onJobs(jobs);
    });
  }
}

async function claimOnce(opts: ClaimLoopOptions, max: number): Promise<ClaimedJob[]> {
  const claimId = randomUUID();
  let lateTries = 0;
  try {
    return await withRetry(
      async () => {
        // Once stopping, do not wait on a registration that may never come back (controller gone).
        const reg = opts.registration.current ?? (opts.claiming() ? await opts.registration.ensure().catch(() => undefined) : undefined);
        if (!reg) return [];
        // Once draining, a retry must not wait for new work: it only recovers what this claimId got.
        const waitMs = opts.claiming() ? Math.min(reg.longPollMs, opts.claimWaitMs) : 0;
        const res = await opts.claims.claim({ agentId: opts.agentId, max, waitMs, claimId });
        opts.onReachable(true);
        if (res.jobs.length > 0) opts.logger.debug({ jobs: res.jobs.map((j) => j.id), claimId }, 'claimed');
        return res.jobs.slice(0, max);
      },
      {
        backoff: RETRY.claim.backoff,
        // No abort signal: a claim is never cut off (see claims.ts); stopping ends it through the judge.
        judge: (err, attempt) => {
          if (credentialRevoked(err)) return 'give-up'; // the agent stops claiming for good (agent.ts)
          const d = decide(err);
          if (d === 'reregister') {
            opts.registration.invalidate();
            return 'retry-now';
          }
          if (d === 'retry') opts.onReachable(false);
          if (!opts.claiming() && ++lateTries >= TRIES_WHEN_STOPPING) {
            opts.logger.warn({ err, claimId }, 'giving up a claim while stopping; any job it got returns when its lease expires');
            return 'give-up';
          }
          if (attempt === 0 || attempt % 20 === 0) opts.logger[d === 'retry' ? 'warn' : 'error']({ err, attempt }, 'claim failed; retrying');
          if (!opts.claiming()) return { retry: RETRY.claimStopping.backoff };
          return d === 'retry' ? 'retry' : { retry: RETRY.claimRefused.backoff };
        },
      },
    );
  } catch {
    return []; // given up while stopping (logged above), or revoked
  }
}
