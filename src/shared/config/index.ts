// One place that knows every process's schema, so a shared file or environment is checked as a whole.
import { agentConfigSchema } from './agent-config.js';
import { controllerConfigSchema } from './controller-config.js';
import { monitorConfigSchema } from './monitor-config.js';

export { agentConfigSchema, agentEnvOnly, retiredAgentSettings, type AgentConfig, type Schedule } from './agent-config.js';
export { controllerConfigSchema, type ControllerConfig } from './controller-config.js';
export { monitorConfigSchema, type MonitorConfig } from './monitor-config.js';
export { loadConfig, envNameFor, ENV_PREFIX } from './load-config.js';
export { parseListen, type ListenAddress } from './fields.js';

/** Every key any process knows: a key of another process in a shared file is not an error. */
export const allConfigKeys: readonly string[] = [
  ...new Set([
    ...Object.keys(agentConfigSchema.shape),
    ...Object.keys(controllerConfigSchema.shape),
    ...Object.keys(monitorConfigSchema.shape),
  ]),
];

/** HTTPAGENT_* variables that are not settings: script params and the agent's own markers. */
export function isNonSettingEnv(name: string): boolean {
  return name.startsWith('HTTPAGENT_PARAM_') || name.startsWith('HTTPAGENT_JOB_') || name === 'HTTPAGENT_CONFIG';
}
