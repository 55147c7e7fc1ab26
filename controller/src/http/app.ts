// Builds the controller's fastify app (not listening): parsers, auth by path, the error mapping, routes.
import fastifyCookie from '@fastify/cookie';
import fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { frameworkErrors, installErrorHandling } from '../../../src/shared/http/error-handler.js';
import type { Logger } from '../../../src/shared/log.js';
import type { RedisLike } from '../commands.js';
import type { EventHub } from '../event-stream.js';
import { classifyRedisFailure } from '../redis-unavailable.js';
import type { SessionStore } from '../session-store.js';
import { agentRoutes, type AgentRouteDeps } from './agent-routes.js';
import { installAuth, type AuthOptions } from './auth-hooks.js';
import { eventRoutes } from './event-routes.js';
import { identityRoutes, type IdentityDeps } from './identity-routes.js';
import { jobListRoutes, type JobListDeps } from './job-list-routes.js';
import { monitorRoutes } from './monitor-routes.js';
import { platformRoutes, type PlatformDeps } from './platform-routes.js';
import { sessionRoutes } from './session-routes.js';
import { uiRoutes } from './ui-routes.js';

export interface AppOptions {
  bodyLimitBytes: number;
  sessionTtlSec: number;
}

export interface AppDeps extends PlatformDeps, JobListDeps, AgentRouteDeps, IdentityDeps {
  redis: RedisLike;
  logger: Logger;
  auth: AuthOptions;
  sessions: SessionStore;
  hub: EventHub;
}

export function buildApp(opts: AppOptions, deps: AppDeps, uiDir?: string): FastifyInstance {
  const app = fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // Per-request lines would drown the log at thousands of claims a second; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimitBytes,
    // Path ids are agent ids (up to 128 characters) and job ids; fastify's default of 100 would refuse some.
    routerOptions: { maxParamLength: 256 },
    frameworkErrors,
    // Agents long-poll for up to two minutes on kept-alive connections.
    keepAliveTimeout: 130_000,
    requestTimeout: 0,
    // While closing, requests on open connections are still served (Redis is quit only after the
    // server closed); waiting claims are released by the preClose hook.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
  });

  // An empty body with a JSON content type means "no body" (a bare cancel), not a parse error.
  const defaultJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, undefined);
    defaultJson(req, text, done);
  });

  void app.register(fastifyCookie);
  installAuth(app, deps.auth);

  installErrorHandling(app, { classify: classifyRedisFailure });

  app.get('/healthz', async (_req, reply) => {
    try {
      await deps.redis.ping();
      return { ok: true, redis: 'ok' };
    } catch {
      return reply.code(503).send({ ok: false, redis: 'unreachable' });
    }
  });

  platformRoutes(app, deps);
  jobListRoutes(app, deps);
  identityRoutes(app, deps);
  agentRoutes(app, deps);
  monitorRoutes(app, deps);
  eventRoutes(app, deps.hub);
  sessionRoutes(app, { sessions: deps.sessions, auth: deps.auth.platform, ttlSec: opts.sessionTtlSec });
  uiRoutes(app, uiDir);
  return app;
}
