// Starts the agent's operations side (scheduled tasks and self-update) next to its job loop, so
// run-agent wires both with one call and stops them before it drains.
import type { AgentConfig } from '../shared/config/agent-config.js';
import type { Logger } from '../shared/log.js';
import type { JobSubmit, JobView } from '../shared/protocol/job.js';
import { createScheduler, type Scheduler } from '../agent/schedule/scheduler.js';
import { createAlertMailer } from '../ops/ops-mail.js';
import { loadMailSettings } from '../ops/mail-settings.js';
import { createSelfUpdater, type JobActivity, type SelfUpdater } from '../ops/self-updater.js';
import type { ReleaseChannel } from '../ops/bundle-source.js';

export interface AgentOperationsDeps {
  logger: Logger;
  /**
   * The job loop: schedules queue and read their runs through it (the agent API, with the agent's own
   * credential); self-update pauses its claims and waits for runningJobs to reach 0.
   */
  agent: JobLoop;
  /** Drains and exits the agent (what SIGTERM does): self-update calls it after switching `current`. */
  exit(reason: string): void;
  configFile?: string | undefined;
  env: Record<string, string | undefined>;
}

/** What operations need of the job loop (src/agent/jobs/agent.ts's Agent). */
export interface JobLoop {
  readonly runningJobs: number;
  submitJob(job: JobSubmit): Promise<{ id: string; state: string }>;
  getJob(id: string): Promise<Pick<JobView, 'state'>>;
  pauseClaims(): Promise<void>;
  resumeClaims(): void;
  /** The release channel with the agent's credential (updateSource: bundle). */
  readonly releases?: ReleaseChannel;
}

/** Self-update's view of the job loop: quiet means no job runs and, once paused, none can start. */
export function jobActivityOf(agent: JobLoop): JobActivity {
  return { running: () => agent.runningJobs, pause: () => agent.pauseClaims(), resume: () => agent.resumeClaims() };
}

export interface AgentOperations {
  scheduler: Scheduler | undefined;
  updater: SelfUpdater;
  stop(): Promise<void>;
}

export async function startAgentOperations(config: AgentConfig, deps: AgentOperationsDeps): Promise<AgentOperations> {
  const { logger } = deps;
  let scheduler: Scheduler | undefined;
  if (config.schedules.length > 0) {
    scheduler = createScheduler(config, { logger, submitJob: (job) => deps.agent.submitJob(job), getJob: (id) => deps.agent.getJob(id) });
    // Catch-up talks to the controller; it must not hold up the agent's start.
    void scheduler.start().catch((err: unknown) => logger.error({ err }, 'scheduler start failed'));
  }
  const updater = createSelfUpdater(config, {
    logger,
    env: deps.env,
    configFile: deps.configFile,
    alert: createAlertMailer(loadMailSettings(deps.configFile, deps.env, logger), logger),
    jobs: jobActivityOf(deps.agent),
    releases: deps.agent.releases,
    exit: deps.exit,
  });
  updater.start();
  return {
    scheduler,
    updater,
    async stop() {
      await Promise.all([scheduler?.stop(), updater.stop()]);
    },
  };
}
