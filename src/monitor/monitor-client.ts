// The monitor's calls to the controller (agent token): samples, heartbeat and the alert state copy.
import { z } from 'zod';
import { createControllerHttp, type ControllerHttp } from '../controller-client/controller-http.js';
import { agentApiPaths } from '../protocol/agent-api.js';
import type { HostSample } from '../protocol/monitor-api.js';
import { parseAlertState } from './alerts/alert-state-store.js';
import type { AlertState } from './alerts/alert-engine.js';

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
}

// The controller's acknowledgement bodies carry nothing the monitor acts on: any JSON is accepted.
const ack = z.unknown();
const alertStateReply = z.object({ state: z.unknown().nullable() });

export function createMonitorClient(opts: MonitorClientOptions, http?: ControllerHttp): MonitorClient {
  // Two sockets: a sample flush and a heartbeat may overlap; nothing here long-polls.
  const h = http ?? createControllerHttp({ baseUrl: opts.baseUrl, token: opts.token, connections: 2 });
  const t = opts.timeoutMs;
  const agentId = opts.agentId;
  return {
    async pushMetrics(intervalSec, samples) {
      await h.call(agentApiPaths.monitorMetrics, ack, { method: 'POST', json: { agentId, intervalSec, samples }, timeoutMs: t });
    },
    async heartbeat(ttlSec, checks) {
      await h.call(agentApiPaths.monitorHeartbeat, ack, { method: 'POST', json: { agentId, ttlSec, checks }, timeoutMs: t });
    },
    async putAlertState(state) {
      await h.call(agentApiPaths.monitorAlertState, ack, { method: 'PUT', json: { agentId, state }, timeoutMs: t });
    },
    async getAlertState() {
      const r = await h.call(agentApiPaths.monitorAlertState, alertStateReply, { query: { agentId }, timeoutMs: t });
      return r.state === null ? null : parseAlertState(r.state);
    },
    close: () => h.close(),
  };
}
