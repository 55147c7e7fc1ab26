// Builds the controller's fastify app (not listening): parsers, auth by path, the error mapping, routes.
import fastifyCookie from '@fastify/cookie';
import fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { HttpLimitSettings } from '../../../src/shared/config/http-limits.js';
import { createConnectionGuard } from '../../../src/shared/http/connection-guard.js';
import { UnauthorizedError } from '../../../src/shared/errors.js';
import { bearerToken } from '../../../src/shared/http/auth.js';
import { frameworkErrors, installErrorHandling } from '../../../src/shared/http/error-handler.js';
import { installServiceHeader } from '../../../src/shared/http/service-header.js';
import type { Logger } from '../../../src/shared/log.js';
import { AGENT_API_PREFIX } from '../../../src/shared/protocol/agent-api.js';
import { servicePaths } from '../../../src/shared/protocol/platform-api.js';
import { version } from '../../../src/shared/package-info.js';
import type { RedisLike } from '../commands.js';
import type { EventHub } from '../event-stream.js';
import type { FleetMetrics } from '../fleet-metrics.js';
import { classifyRedisFailure } from '../redis-unavailable.js';
import type { SessionStore } from '../session-store.js';
import { agentChannel } from './agent-channel.js';
import { agentRoutes, createAgentCalls, type AgentRouteDeps } from './agent-routes.js';
import { installAuth, type AuthOptions } from './auth-hooks.js';
import { eventRoutes } from './event-routes.js';
import { identityRoutes, type IdentityDeps } from './identity-routes.js';
import { monitorRoutes } from './monitor-routes.js';
import { buildControllerOpenApi } from './platform-openapi.js';
import { platformRoutes, type PlatformDeps } from './platform-routes.js';
import { releaseRoutes, type ReleaseRouteDeps } from './release-routes.js';
import { sessionRoutes } from './session-routes.js';
import { uiRoutes } from './ui-routes.js';

export interface AppOptions extends HttpLimitSettings {
  bodyLimitBytes: number;
  sessionTtlSec: number;
  /** Serve the agent channel (a WebSocket for claims and completes); off: agents use HTTP only. */
  agentChannel: boolean;
  /** Each channel is pinged this often; one that missed the last ping is closed. */
  agentChannelPingMs: number;
}

export interface AppDeps extends PlatformDeps, AgentRouteDeps, IdentityDeps, ReleaseRouteDeps {
  redis: RedisLike;
  logger: Logger;
  auth: AuthOptions;
  sessions: SessionStore;
  hub: EventHub;
  fleetMetrics: FleetMetrics;
  /** Serve /metrics without the platform token (a scraper on a trusted network); off by default. */
  metricsPublic: boolean;
}

export interface BuiltApp {
  app: FastifyInstance;
  /** Agent channels open now (0 with the channel off). */
  readonly openChannels: number;
}

export function buildApp(opts: AppOptions, deps: AppDeps, uiDir?: string): BuiltApp {
  const guard = createConnectionGuard(opts, deps.logger);
  const app = fastify({
    ...guard.options,
    loggerInstance: deps.logger as FastifyBaseLogger,
    // Per-request lines would drown the log at thousands of claims a second; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimitBytes,
    // Path ids are agent ids (up to 128 characters) and job ids; fastify's default of 100 would refuse some.
    routerOptions: { maxParamLength: 256 },
    frameworkErrors,
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
  guard.install(app);
  installServiceHeader(app, 'controller');

  app.get(servicePaths.health, async (_req, reply) => {
    try {
      await deps.redis.ping();
      return { ok: true, redis: 'ok' };
    } catch {
      return reply.code(503).send({ ok: false, redis: 'unreachable' });
    }
  });

  // The fleet's numbers name every host and schedule: the platform token unless metricsPublic is set
  // (neither the viewer token nor a dashboard session: a scraper is given the platform's own token).
  app.get('/metrics', async (req, reply) => {
    if (!deps.metricsPublic) {
      const token = bearerToken(req.headers.authorization);
      if (token === undefined || deps.auth.platform.roleOfToken(token) !== 'admin') throw new UnauthorizedError();
    }
    const { text, contentType } = await deps.fleetMetrics.render();
    return reply.type(contentType).send(text);
  });
  const openapi = buildControllerOpenApi({ version });
  app.get(servicePaths.openapi, async () => openapi);

  platformRoutes(app, deps);
  identityRoutes(app, deps);
  const calls = createAgentCalls(deps);
  agentRoutes(app, { ...deps, calls });
  const channel = opts.agentChannel
    ? agentChannel(app, {
        calls,
        credentials: deps.auth.credentials,
        maxMessageBytes: opts.bodyLimitBytes,
        pingEveryMs: opts.agentChannelPingMs,
        logger: deps.logger,
        ...(deps.auth.skipAgentChecks ? { skipAgentChecks: true } : {}),
      })
    : undefined;
  monitorRoutes(app, deps);
  releaseRoutes(app, deps);
  eventRoutes(app, deps.hub);
  sessionRoutes(app, { sessions: deps.sessions, auth: deps.auth.platform, ttlSec: opts.sessionTtlSec });
  uiRoutes(app, uiDir);
  return {
    app,
    get openChannels() {
      return channel?.open ?? 0;
    },
  };
}
