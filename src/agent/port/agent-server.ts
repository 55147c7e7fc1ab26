// The agent's unified HTTP port, built apart from listen() so tests and run-agent.ts mount the same
// instance: auth, error mapping, metrics and the light-task routes.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { AgentConfig } from '../../shared/config/agent-config.js';
import { createAuthorizeHelpers } from '../tasks/authorize-helper.js';
import { compileDeleteRoots } from '../tasks/delete-paths.js';
import { createRunPool, type RunPool } from '../tasks/run-pool.js';
import { createConnectionGuard } from '../../shared/http/connection-guard.js';
import { frameworkErrors, installErrorHandling } from '../../shared/http/error-handler.js';
import { installServiceHeader } from '../../shared/http/service-header.js';
import type { AgentServerDeps, RouteContext } from './route-context.js';
import { registerAuthorizeRoutes } from './authorize-route.js';
import { registerDeleteRoute } from './delete-route.js';
import { registerJacocoRoute } from './jacoco-route.js';
import { registerJobsRoute } from './jobs-route.js';
import { createPortTokenCheck } from './port-token.js';
import { registerRunRoute } from './run-route.js';
import { registerServiceRoutes } from './service-routes.js';

export type { AgentJobsView, AgentServerDeps, RouteContext } from './route-context.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without a port token (/healthz, /openapi.json, /metrics when metricsPublic). */
    public?: boolean;
  }
  interface FastifyRequest {
    /** A valid port token came with the request (a public route may then say more). */
    portToken: boolean;
  }
}

export function buildAgentServer(config: AgentConfig, deps: AgentServerDeps): FastifyInstance {
  const guard = createConnectionGuard(config, deps.logger);
  const app = Fastify({
    ...guard.options,
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: config.bodyLimitBytes,
    frameworkErrors,
    // Light tasks are frequent; one log line per request would drown the job logs. Errors still log.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });
  const ctx: RouteContext = {
    config,
    deps,
    runPool: createRunPool({ concurrency: config.runConcurrency, queue: config.runQueue }),
    deleteRoots: compileDeleteRoots(config.deleteRoots),
    authorizeHelpers: createAuthorizeHelpers({ logger: deps.logger }),
  };
  app.addHook('onClose', () => ctx.authorizeHelpers.close());
  guard.install(app);
  const checkToken = createPortTokenCheck({ agentId: config.agentId, keys: deps.portKeys });

  // Every body is JSON; fastify's default text/plain parser would let a string reach the routes.
  app.removeContentTypeParser('text/plain');
  installErrorHandling(app);
  installServiceHeader(app, 'agent');

  // onRequest runs before the body is read: an unauthenticated caller cannot make us buffer anything.
  // A public route may be called without a token, but a token that comes must be good: a caller with a
  // bad one learns so instead of getting the anonymous answer.
  app.decorateRequest('portToken', false);
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config.public && request.headers.authorization === undefined) return;
    await checkToken(request.headers.authorization);
    request.portToken = true;
  });

  app.addHook('onResponse', async (request, reply) => {
    deps.metrics.httpRequestDuration
      .labels(request.method, request.routeOptions.url ?? 'unmatched', String(reply.statusCode))
      .observe(reply.elapsedTime / 1000);
  });

  registerServiceRoutes(app, ctx);
  registerRunRoute(app, ctx);
  registerDeleteRoute(app, ctx);
  registerAuthorizeRoutes(app, ctx);
  registerJacocoRoute(app, ctx);
  registerJobsRoute(app, ctx);
  return app;
}
