// GET /healthz, /metrics and /openapi.json: the port's own service endpoints.
import type { FastifyInstance } from 'fastify';
import type { RouteContext } from './route-context.js';
import { buildAgentOpenApi } from './openapi.js';

export function registerServiceRoutes(app: FastifyInstance, { config, deps, runPool }: RouteContext): void {
  app.get('/healthz', { config: { public: true } }, async () => ({
    status: 'ok' as const,
    agentId: config.agentId,
    version: deps.version,
    commit: deps.commit ?? null,
    uptimeSec: Math.round((Date.now() - deps.startedAt) / 1000),
    runningJobs: deps.jobs.running(),
    draining: deps.jobs.draining(),
    controllerReachable: deps.jobs.controllerReachable(),
    lightTasks: { active: runPool.active(), queued: runPool.queued() },
  }));

  // Metrics carry no secrets and scrapers rarely hold tokens; metricsPublic=false asks for the token anyway.
  app.get('/metrics', { config: { public: config.metricsPublic } }, async (_request, reply) => {
    const text = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(text);
  });

  const openapi = buildAgentOpenApi({ version: deps.version });
  app.get('/openapi.json', { config: { public: true } }, async () => openapi);
}
