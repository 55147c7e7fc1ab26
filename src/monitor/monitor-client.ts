// The monitor's calls to the controller (agent token): samples, heartbeat and the alert state copy.
import { z } from 'zod';
import { agentApiPaths } from '../shared/protocol/agent-api.js';
import type { HostSample } from '../shared/protocol/monitor-api.js';
import { parseAlertState } from './alerts/alert-state-store.js';
import type { AlertState } from './alerts/alert-engine.js';
import { createHttpCaller, type HttpCaller } from './monitor-http.js';
import { controllerErrorFrom } from '../shared/client/controller-error.js';
import { HttpAgentError } from '../shared/errors.js';
import { RETRY } from '../shared/retry-policy.js';
import { withRetry } from '../shared/retry.js';

export interface MonitorClient {
  pushMetrics(intervalSec: number, samples: readonly HostSample[] | readonly { ts: number }[]): Promise<void>;
  heartbeat(ttlSec: number, checks: Record<string, boolean>): Promise<void>;
  putAlertState(state: AlertState): Promise<void>;
  /** The copy kept at the controller; null when it has none or it does not parse. */
  getAlertState(): Promise<AlertState | null>;
  close(): Promise<void>;
}

export interface MonitorClientOptions {
  baseUrl: string;
  token: string;
  agentId: string;
  timeoutMs: number;
  /** Aborted when the monitor stops: a retry waiting for the controller gives up at once. */
  signal?: AbortSignal | undefined;
}

const alertStateReply = z.object({ state: z.unknown().nullable() });

export function createMonitorClient(opts: MonitorClientOptions, caller: HttpCaller = createHttpCaller()): MonitorClient {
  const base = opts.baseUrl.replace(/\/$/, '');
  const headers = { authorization: `Bearer ${opts.token}` };
  const agentId = opts.agentId;

  /** One call, tried again once after a transient failure (or when the controller says, by Retry-After). */
  const call = (method: 'GET' | 'POST' | 'PUT', path: string, json?: unknown): Promise<string> =>
    withRetry(
      async () => {
        const reply = await caller.call(`${base}${path}`, { method, headers, json, timeoutMs: opts.timeoutMs });
        if (reply.status < 200 || reply.status >= 300) throw controllerErrorFrom(reply.status, reply.text, reply.retryAfter, `controller ${method} ${path}`);
        return reply.text;
      },
      { ...RETRY.monitor, signal: opts.signal },
    );

  return {
    async pushMetrics(intervalSec, samples) {
      await call('POST', agentApiPaths.monitorMetrics, { agentId, intervalSec, samples });
    },
    async heartbeat(ttlSec, checks) {
      await call('POST', agentApiPaths.monitorHeartbeat, { agentId, ttlSec, checks });
    },
    async putAlertState(state) {
      await call('PUT', agentApiPaths.monitorAlertState, { agentId, state });
    },
    async getAlertState() {
      const text = await call('GET', `${agentApiPaths.monitorAlertState}?agentId=${encodeURIComponent(agentId)}`);
      let data: unknown;
      try {
        data = JSON.parse(text);
      } catch (err) {
        throw new HttpAgentError('CONTROLLER_BAD_REPLY', 'the alert state reply is not JSON', { cause: err });
      }
      const r = alertStateReply.safeParse(data);
      if (!r.success) throw new HttpAgentError('CONTROLLER_BAD_REPLY', 'the alert state reply does not match the monitor API', { cause: r.error });
      return r.data.state === null ? null : parseAlertState(r.data.state);
    },
    async close() {
      caller.close();
    },
  };
}
