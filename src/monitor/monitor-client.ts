// The monitor's calls to the controller with the agent's credential: samples, heartbeat, the alert
// state copy and the schedules' last runs.
import { z } from 'zod';
import { agentApiPaths } from '../shared/protocol/agent-api.js';
import { scheduleRunsReplySchema, type HostSample, type ScheduleRun } from '../shared/protocol/monitor-api.js';
import { parseAlertState } from './alerts/alert-state-store.js';
import type { AlertState } from './alerts/alert-engine.js';
import { createHttpCaller, type HttpCaller } from './monitor-http.js';
import { controllerErrorFrom } from '../shared/client/controller-error.js';
import { HttpAgentError } from '../shared/errors.js';
import { RETRY, unauthorized } from '../shared/retry-policy.js';
import { withRetry } from '../shared/retry.js';
import type { MonitorCredential } from './monitor-credential.js';

export interface MonitorClient {
  pushMetrics(intervalSec: number, samples: readonly HostSample[] | readonly { ts: number }[]): Promise<void>;
  heartbeat(ttlSec: number, checks: Record<string, boolean>): Promise<void>;
  putAlertState(state: AlertState): Promise<void>;
  /** The copy kept at the controller; null when it has none or it does not parse. */
  getAlertState(): Promise<AlertState | null>;
  /** The last finished run of each of the agent's schedules. */
  getScheduleRuns(): Promise<ScheduleRun[]>;
  close(): Promise<void>;
}

export interface MonitorClientOptions {
  baseUrl: string;
  /** The agent's credential; its agent id is the one every call names (the controller refuses any other). */
  credential: MonitorCredential;
  timeoutMs: number;
  /** Aborted when the monitor stops: a retry waiting for the controller gives up at once. */
  signal?: AbortSignal | undefined;
}

const alertStateReply = z.object({ state: z.unknown().nullable() });

export function createMonitorClient(opts: MonitorClientOptions, caller: HttpCaller = createHttpCaller()): MonitorClient {
  const base = opts.baseUrl.replace(/\/$/, '');

  /**
   * One call, tried again once after a transient failure (or when the controller says, by Retry-After).
   * `build` gets the agent id, so a credential read anew (the agent enrolled again) is used whole.
   */
  const call = (method: 'GET' | 'POST' | 'PUT', build: (agentId: string) => { path: string; json?: unknown }): Promise<string> =>
    withRetry(
      async () => {
        const { agentId, bearer } = opts.credential.current();
        const { path, json } = build(agentId);
        const reply = await caller.call(`${base}${path}`, { method, headers: { authorization: `Bearer ${bearer}` }, json, timeoutMs: opts.timeoutMs });
        if (reply.status < 200 || reply.status >= 300) {
          const err = controllerErrorFrom(reply.status, reply.text, reply.retryAfter, `controller ${method} ${path}`);
          if (unauthorized(err)) opts.credential.invalidate();
          throw err;
        }
        return reply.text;
      },
      { ...RETRY.monitor, signal: opts.signal },
    );

  return {
    async pushMetrics(intervalSec, samples) {
      await call('POST', (agentId) => ({ path: agentApiPaths.monitorMetrics, json: { agentId, intervalSec, samples } }));
    },
    async heartbeat(ttlSec, checks) {
      await call('POST', (agentId) => ({ path: agentApiPaths.monitorHeartbeat, json: { agentId, ttlSec, checks } }));
    },
    async putAlertState(state) {
      await call('PUT', (agentId) => ({ path: agentApiPaths.monitorAlertState, json: { agentId, state } }));
    },
    async getAlertState() {
      const text = await call('GET', (agentId) => ({ path: `${agentApiPaths.monitorAlertState}?agentId=${encodeURIComponent(agentId)}` }));
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
    async getScheduleRuns() {
      const text = await call('GET', (agentId) => ({ path: `${agentApiPaths.monitorScheduleRuns}?agentId=${encodeURIComponent(agentId)}` }));
      let data: unknown;
      try {
        data = JSON.parse(text);
      } catch (err) {
        throw new HttpAgentError('CONTROLLER_BAD_REPLY', 'the schedule runs reply is not JSON', { cause: err });
      }
      const r = scheduleRunsReplySchema.safeParse(data);
      if (!r.success) throw new HttpAgentError('CONTROLLER_BAD_REPLY', 'the schedule runs reply does not match the monitor API', { cause: r.error });
      return r.data.runs;
    },
    async close() {
      caller.close();
    },
  };
}
