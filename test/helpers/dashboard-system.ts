// A job system for the dashboard tests: the controller with a viewer token and a short offline delay,
// agents, and a monitor per agent sampling every second.
import { startJobSystem, type AgentHandle, type JobSystem, type JobSystemOptions } from './job-system.js';
import { spawnHttpagent, type Spawned } from './processes.js';

export const VIEWER_TOKEN = 'test-viewer-token-0123456789';

export interface DashboardSystem extends JobSystem {
  startMonitor(agent: AgentHandle): Promise<Spawned>;
  stopAll(): Promise<void>;
}

export async function startDashboardSystem(opts: JobSystemOptions = {}): Promise<DashboardSystem> {
  const sys = await startJobSystem({
    ...opts,
    controllerEnv: { HTTPAGENT_VIEWER_TOKEN: VIEWER_TOKEN, HTTPAGENT_OFFLINE_AFTER_MS: '3000', ...opts.controllerEnv },
  });
  const monitors: Spawned[] = [];
  return Object.assign(sys, {
    async startMonitor(agent: AgentHandle) {
      const m = spawnHttpagent(['monitor'], {
        HTTPAGENT_AGENT_ID: agent.id,
        HTTPAGENT_LISTEN: agent.url.replace(/^http:\/\//, ''),
        HTTPAGENT_CONTROLLER_URL: sys.controllerUrl,
        // The agent's own: the monitor reads the agent's credential there.
        HTTPAGENT_STATE_DIR: agent.stateDir,
        HTTPAGENT_METRICS_INTERVAL_SEC: '1',
        HTTPAGENT_CHECK_INTERVAL_SEC: '1',
        HTTPAGENT_ALERT_CPU_PERCENT: '100',
        HTTPAGENT_ALERT_MEMORY_PERCENT: '100',
        HTTPAGENT_ALERT_DISK_PERCENT: '100',
      });
      monitors.push(m);
      return m;
    },
    async stopAll() {
      for (const m of monitors) await m.kill('SIGKILL');
      await sys.stop();
    },
  });
}
