// Monitor storage endpoints on the agent API (bearer agent token): metrics, heartbeat, alert state.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { agentApiPaths } from '../../../src/shared/protocol/agent-api.js';
import { agentIdSchema } from '../../../src/shared/protocol/ids.js';
import { alertStatePutSchema, metricsPushSchema, monitorHeartbeatSchema } from '../../../src/shared/protocol/monitor-api.js';
import type { MonitorStore } from '../monitor-store.js';
import { validate } from './validate.js';

const alertQuery = z.strictObject({ agentId: agentIdSchema });

export function monitorRoutes(app: FastifyInstance, monitor: MonitorStore): void {
  app.post(agentApiPaths.monitorMetrics, async (req) => monitor.pushMetrics(validate(metricsPushSchema, req.body, 'body')));

  app.post(agentApiPaths.monitorHeartbeat, async (req) => monitor.heartbeat(validate(monitorHeartbeatSchema, req.body, 'body')));

  app.put(agentApiPaths.monitorAlertState, async (req) => {
    const body = validate(alertStatePutSchema, req.body, 'body');
    await monitor.putAlertState(body.agentId, body.state);
    return { ok: true };
  });

  app.get(agentApiPaths.monitorAlertState, async (req) => {
    const q = validate(alertQuery, req.query, 'query');
    return { state: await monitor.getAlertState(q.agentId) };
  });
}
