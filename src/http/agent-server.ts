// The agent's unified HTTP port, built apart from listen() so tests and run-agent.ts mount the same
// instance: auth, error mapping, metrics and the light-task routes.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { AgentConfig } from '../config/agent-config.js';
import type { Logger } from '../log.js';
import type { AgentMetrics } from '../metrics/agent-metrics.js';
import type { JobSpec } from '../protocol/job.js';
import { compileDeleteRoots } from '../tasks/delete-paths.js';
import { createRunPool, type RunPool } from '../tasks/run-pool.js';
import { createTokenCheck } from './auth.js';
import { errorHandler } from './error-handler.js';
import { NotFoundError } from '../errors.js';
import { registerAuthorizeRoutes } from './routes/authorize-route.js';
import { registerDeleteRoute } from './routes/delete-route.js';
import { registerJacocoRoute } from './routes/jacoco-route.js';
import { registerJobsRoute } from './routes/jobs-route.js';
import { registerRunRoute } from './routes/run-route.js';
import { registerServiceRoutes } from './routes/service-routes.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without the platform token (/healthz, /openapi.json, /metrics when metricsPublic). */
    public?: boolean;
  }
}

/** What the job loop exposes to the port; implemented by src/jobs, faked by nothing (tests use a small real object). */
export interface AgentJobsView {
  /** Heavy jobs running now. */
  running(): number;
  /** True once SIGTERM started draining: no new claims. */
  draining(): boolean;
  /** The last controller call succeeded (register, claim or heartbeat). */
  controllerReachable(): boolean;
  /** Queues a heavy job at the controller, targeted at this agent; rejects with HttpAgentError on refusal. */
  submitJob(spec: JobSpec): Promise<{ id: string }>;
}

export interface AgentServerDeps {
  /** pino logger; fastify logs requests through it. */
  logger: Logger;
  metrics: AgentMetrics;
  /** Resolved directory of allow-listed task scripts (config.tasksDir or the repo's scripts/). */
  tasksDir: string;
  /** Environment scripts inherit: scriptBaseEnv(process.env), without HTTPAGENT_* settings. */
  scriptBaseEnv: Record<string, string>;
  jobs: AgentJobsView;
  version: string;
  commit?: string | undefined;
  /** Process start, ms since epoch (for uptime). */
  startedAt: number;
  /** TEST SEAM: passwd file for /v1/authorize lookups (temp homes in tests). Production leaves it unset: /etc/passwd. */
  passwdFile?: string | undefined;
}

/** Shared by the route modules. */
export interface RouteContext {
  config: AgentConfig;
  deps: AgentServerDeps;
  runPool: RunPool;
  deleteRoots: () => string[];
}

export function buildAgentServer(config: AgentConfig, deps: AgentServerDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: config.bodyLimitBytes,
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
  };
  const checkToken = createTokenCheck(config.platformToken);

  // Every body is JSON; fastify's default text/plain parser would let a string reach the routes.
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request) => {
    throw new NotFoundError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`);
  });

  // onRequest runs before the body is read: an unauthenticated caller cannot make us buffer anything.
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config.public) return;
    checkToken(request.headers.authorization);
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
