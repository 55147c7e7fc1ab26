// Monitor storage endpoints on the agent API (bearer: the host's agent credential; the agentId named must
// be the credential's own, auth-hooks.ts): metrics, heartbeat, alert state, schedules' last runs.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseOr400 } from '../../../src/shared/http/validate.js';
import { agentApiPaths } from '../../../src/shared/protocol/agent-api.js';
import { agentIdSchema } from '../../../src/shared/protocol/ids.js';
import { alertStatePutSchema, metricsPushSchema, monitorHeartbeatSchema } from '../../../src/shared/protocol/monitor-api.js';
import type { MonitorStore } from '../monitor-store.js';

const alertQuery = z.strictObject({ agentId: agentIdSchema });

export function monitorRoutes(app: FastifyInstance, deps: { monitor: MonitorStore }): void {
  const { monitor } = deps;
  app.post(agentApiPaths.monitorMetrics, async (req) => monitor.pushMetrics(parseOr400(metricsPushSchema, req.body, 'body')));

  app.post(agentApiPaths.monitorHeartbeat, async (req) => monitor.heartbeat(parseOr400(monitorHeartbeatSchema, req.body, 'body')));

  app.put(agentApiPaths.monitorAlertState, async (req) => {
    const body = parseOr400(alertStatePutSchema, req.body, 'body');
    await monitor.putAlertState(body.agentId, body.state);
    return { ok: true };
  });

  app.get(agentApiPaths.monitorAlertState, async (req) => {
    const q = parseOr400(alertQuery, req.query, 'query');
    return { state: await monitor.getAlertState(q.agentId) };
  });

  // The credential's own schedules only: auth-hooks.ts refuses an agentId that is not the caller's.
  app.get(agentApiPaths.monitorScheduleRuns, async (req) => {
    const q = parseOr400(alertQuery, req.query, 'query');
    return { runs: await monitor.scheduleRuns(q.agentId) };
  });
}
