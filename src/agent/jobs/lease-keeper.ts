// Heartbeats on a timer (every third of the lease) carrying every lease the agent holds; the reply says
// per job whether to go on, cancel, or stop because another attempt owns it. The timer only runs the
// request: job work lives in child processes and streams, so nothing here competes with it.
import type { AgentsResource } from '../controller-client/agents.js';
import { RETRY, decide } from '../../shared/retry-policy.js';
import { withRetry } from '../../shared/retry.js';
import type { Logger } from '../../shared/log.js';
import type { AgentMetrics } from '../agent-metrics.js';
import type { LeaseStatus } from '../../shared/protocol/agent-api.js';
import type { Registration } from './registration.js';

export interface HeldLease {
  id: string;
  epoch: number;
}

export interface LeaseKeeperOptions {
  agentId: string;
  agents: AgentsResource;
  registration: Registration;
  /** Running jobs plus finished ones whose result is not delivered yet. */
  leases: () => HeldLease[];
  running: () => number;
  state: () => 'online' | 'draining';
  onStatus: (lease: HeldLease, status: LeaseStatus) => void;
  /** Told after each heartbeat whether the controller answered. */
  onReachable: (reachable: boolean) => void;
  /** The lease granted by the controller; heartbeats go every third of it. */
  leaseMs: () => number;
  metrics: AgentMetrics;
  logger: Logger;
}

export interface LeaseKeeper {
  /**
   * Heartbeat now (e.g. right after a state change), without waiting for the timer. If one is already
   * on the wire, another follows it, so what is true now reaches the controller.
   */
  beat(): Promise<void>;
  stop(): void;
}

export function startLeaseKeeper(opts: LeaseKeeperOptions): LeaseKeeper {
  let inFlight: Promise<void> | undefined;
  let followUp: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const once = async () => {
    await opts.registration.ensure();
    let leases: HeldLease[] = [];
    let abandoned = false;
    try {
      const res = await withRetry(
        () => {
          leases = opts.leases();
          // A heartbeat slower than a third of the lease is as good as lost: give up on it and let the next one go.
          return opts.agents.heartbeat({ agentId: opts.agentId, state: opts.state(), running: opts.running(), leases }, undefined, interval());
        },
        {
          ...RETRY.heartbeat,
          // A transient failure is not retried here: the next beat, a third of a lease later, is the retry.
          judge: async (err) => {
            const d = decide(err);
            opts.metrics.leaseRenewFailures.inc({ reason: d === 'retry' ? 'unreachable' : d });
            if (d !== 'reregister') return 'give-up';
            // The controller forgot us (Redis lost the key, or we were away past its TTL): register and
            // renew at once rather than a third of a lease later.
            opts.registration.invalidate();
            opts.logger.warn('controller does not know this agent; registering again');
            await opts.registration.ensure().catch((e: unknown) => {
              abandoned = true;
              throw e;
            });
            return 'retry-now';
          },
        },
      );
      opts.onReachable(true);
      for (const lease of leases) {
        const status = res.leases[lease.id];
        if (status && status !== 'ok') opts.onStatus(lease, status);
      }
    } catch (err) {
      if (abandoned) throw err; // registering again ended with the agent stopping
      opts.onReachable(decide(err) !== 'retry');
      opts.logger.warn({ err, leases: leases.length }, 'heartbeat failed');
    }
  };

  const beat = (): Promise<void> => {
    inFlight ??= once()
      .catch((err: unknown) => opts.logger.debug({ err }, 'heartbeat abandoned'))
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  };

  const interval = () => Math.max(200, Math.floor(opts.leaseMs() / 3));
  // A fixed cadence, not "after the last one finished": a slow reply must not push the next renewal out.
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      void beat();
      schedule();
    }, interval());
  };
  schedule();

  // A heartbeat in flight carries what was true when it left (say 'online' just before a drain): joining
  // it would leave the controller a third of a lease behind, so a fresh one goes as soon as it is back.
  const beatNow = (): Promise<void> => {
    if (!inFlight) return beat();
    followUp ??= inFlight.then(() => {
      followUp = undefined;
      return beat();
    });
    return followUp;
  };

  return {
    beat: beatNow,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
