// GET /healthz, /metrics and /openapi.json: the port's own service endpoints.
import type { FastifyInstance } from 'fastify';
import type { RouteContext } from './route-context.js';
import { buildAgentOpenApi } from './openapi.js';

export function registerServiceRoutes(app: FastifyInstance, { config, deps, runPool }: RouteContext): void {
  // Without a token: alive, and whether it takes work. Version, commit and load tell an attacker which
  // exploit to pick and when the host is busy, so they are for token holders only.
  app.get('/healthz', { config: { public: true } }, async (request) => {
    const state = deps.jobs.draining() || deps.jobs.revoked() ? ('draining' as const) : ('online' as const);
    if (!request.portToken) return { ok: true as const, state };
    return {
      ok: true as const,
      state,
      status: 'ok' as const,
      agentId: config.agentId,
      version: deps.version,
      commit: deps.commit ?? null,
      uptimeSec: Math.round((Date.now() - deps.startedAt) / 1000),
      runningJobs: deps.jobs.running(),
      draining: deps.jobs.draining(),
      controllerReachable: deps.jobs.controllerReachable(),
      revoked: deps.jobs.revoked(),
      lightTasks: { active: runPool.active(), queued: runPool.queued() },
    };
  });

  // Metrics tell how busy the host is and what it runs: a token unless metricsPublic says the network is trusted.
  app.get('/metrics', { config: { public: config.metricsPublic } }, async (_request, reply) => {
    const text = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(text);
  });

  const openapi = buildAgentOpenApi({ version: deps.version });
  app.get('/openapi.json', { config: { public: true } }, async () => openapi);
}
