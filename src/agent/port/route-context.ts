// What the port's route modules share: the agent's config, its dependencies and the light-task pool.
import type { FastifyInstance } from 'fastify';
import type { AgentConfig } from '../../shared/config/agent-config.js';
import type { Logger } from '../../shared/log.js';
import type { JobSpec } from '../../shared/protocol/job.js';
import type { AgentMetrics } from '../agent-metrics.js';
import type { PortKeyRing } from '../identity/port-key-ring.js';
import type { AuthorizeHelpers } from '../tasks/authorize-helper.js';
import type { RunPool } from '../tasks/run-pool.js';
import type { TaskLauncher } from '../tasks/task-launcher.js';

export type { FastifyInstance };

/** What the job loop exposes to the port; implemented by src/agent/jobs, faked by nothing (tests use a small real object). */
export interface AgentJobsView {
  /** Heavy jobs running now. */
  running(): number;
  /** True once SIGTERM started draining: no new claims. */
  draining(): boolean;
  /** True once the controller revoked this agent's credential: nothing is claimed any more. */
  revoked(): boolean;
  /** The last controller call succeeded (register, claim or heartbeat). */
  controllerReachable(): boolean;
  /** Queues a heavy job at the controller, targeted at this agent; rejects with HttpAgentError on refusal. */
  submitJob(spec: JobSpec): Promise<{ id: string }>;
}

export interface AgentServerDeps {
  /** pino logger; fastify logs requests through it. */
  logger: Logger;
  metrics: AgentMetrics;
  /** Starts light tasks: the allow-listed scripts in tasksDir, as their accounts, with a clean environment, groups recorded. */
  tasks: TaskLauncher;
  jobs: AgentJobsView;
  /** The keys port tokens are checked against. */
  portKeys: PortKeyRing;
  version: string;
  commit?: string | undefined;
  /** Process start, ms since epoch (for uptime). */
  startedAt: number;
  /** Aborted when the agent's drain grace is over: running light tasks are stopped like on a timeout. */
  shutdown?: AbortSignal | undefined;
  /** TEST SEAM: passwd file for /v1/authorize lookups (temp homes in tests). Production leaves it unset: /etc/passwd. */
  passwdFile?: string | undefined;
}

/** Shared by the route modules. */
export interface RouteContext {
  config: AgentConfig;
  deps: AgentServerDeps;
  runPool: RunPool;
  deleteRoots: () => string[];
  /** The per-user helper processes that edit authorized_keys; ended when the server closes. */
  authorizeHelpers: AuthorizeHelpers;
}
