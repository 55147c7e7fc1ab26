// Registers the agent with the controller, and again whenever the controller says it does not know us
// (its Redis lost the agent, or the registration expired while we were cut off).
import type { AgentsResource } from '../controller-client/agents.js';
import { RETRY, credentialRevoked, decide, unauthorized } from '../../shared/retry-policy.js';
import { withRetry } from '../../shared/retry.js';
import type { Logger } from '../../shared/log.js';
import { hostname, networkInterfaces } from 'node:os';
import type { RegisterRequest, RegisterResponse } from '../../shared/protocol/agent-api.js';

export interface Registration {
  /** The current registration, registering first if needed; retries until it works or `signal` aborts. */
  ensure(): Promise<RegisterResponse>;
  /** Forget the registration (after AGENT_UNKNOWN); the next ensure() registers again. */
  invalidate(): void;
  readonly current: RegisterResponse | undefined;
}

export interface RegistrationOptions {
  agents: AgentsResource;
  request: () => RegisterRequest;
  /**
   * Resolves once the agent holds a credential (enrolled if it had none). Registering before that sends
   * no bearer: the controller refuses it as an unknown credential, and the refusal's slow backoff kept a
   * fresh agent from registering for seconds after it had enrolled (the lease keeper's first beat comes
   * a third of a lease after start, before an enrollment on a busy host has its answer).
   */
  enrolled: () => Promise<unknown>;
  /** Told of each registration before it is used (the port keys it carries). */
  onRegistered?: (res: RegisterResponse) => Promise<void>;
  /** The credential file, named in the line logged when the controller refuses the credential. */
  credentialFile: string;
  logger: Logger;
  signal: AbortSignal;
}

export function createRegistration(opts: RegistrationOptions): Registration {
  let current: RegisterResponse | undefined;
  let pending: Promise<RegisterResponse> | undefined;

  const register = async (): Promise<RegisterResponse> => {
    await opts.enrolled();
    return withRetry(
      async () => {
        const res = await opts.agents.register(opts.request(), opts.signal);
        await opts.onRegistered?.(res);
        current = res;
        opts.logger.info({ leaseMs: res.leaseMs, longPollMs: res.longPollMs }, 'registered with the controller');
        return res;
      },
      {
        backoff: RETRY.register.backoff,
        signal: opts.signal,
        judge: (err, attempt) => {
          // Revoked for good: the agent stops calling (agent.ts), so there is nothing to wait for.
          if (credentialRevoked(err)) return 'give-up';
          // A refusal (unknown credential, bad labels) will not fix itself, but the operator may fix the
          // host or the controller: keep trying, slowly, and say what to fix.
          const transient = decide(err) === 'retry';
          if (transient && attempt !== 0 && attempt % 10 !== 0) return 'retry';
          if (transient) opts.logger.warn({ err, attempt }, 'cannot register with the controller; retrying');
          else if (unauthorized(err) && attempt % 10 === 0)
            opts.logger.error(
              { attempt },
              `the controller does not accept this agent's credential (${opts.credentialFile}): it was issued by another controller, or the controller lost its record. Remove the file and give the agent an enrollment token (enrollTokenFile) to enroll again; retrying`,
            );
          else if (!unauthorized(err)) opts.logger.error({ err, attempt }, 'the controller refused the registration; retrying');
          return transient ? 'retry' : { retry: RETRY.registerRefused.backoff };
        },
      },
    );
  };

  return {
    ensure() {
      if (current) return Promise.resolve(current);
      pending ??= register().finally(() => {
        pending = undefined;
      });
      return pending;
    },
    invalidate() {
      current = undefined;
    },
    get current() {
      return current;
    },
  };
}

export interface RegisterFacts {
  agentId: string;
  port: number;
  version: string;
  commit: string | undefined;
  labels: Record<string, string>;
  capacity: number;
  leaseMs: number;
}

/** What the agent tells the controller about itself; addresses are read each time (they may change). */
export function buildRegisterRequest(f: RegisterFacts): RegisterRequest {
  const addresses = Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && !a.internal)
    .map((a) => a!.address)
    .slice(0, 64);
  return {
    agentId: f.agentId,
    hostname: hostname().slice(0, 255),
    addresses,
    port: f.port,
    version: f.version,
    ...(f.commit ? { commit: f.commit.slice(0, 64) } : {}),
    labels: f.labels,
    capacity: f.capacity,
    leaseMs: f.leaseMs,
  };
}
