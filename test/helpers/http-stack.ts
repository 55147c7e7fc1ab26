// A real controller process over a private Redis and a real enrolled agent process, for tests that attack
// both HTTP servers as deployed (test/helpers/job-system.ts starts them, each in its own process group).
import { fileURLToPath } from 'node:url';
import { enrollAgent } from './identity.js';
import { ENROLL_TOKEN, PLATFORM_TOKEN, startJobSystem, type AgentHandle, type JobSystem } from './job-system.js';

export { PLATFORM_TOKEN as STACK_PLATFORM_TOKEN };
/** Tasks the agent's /v1/run may start: small fixture scripts (true, echo-params, slow...). */
export const STACK_TASKS_DIR = fileURLToPath(new URL('../fixtures/http-tasks', import.meta.url));
export const STACK_AGENT_ID = 'stack-agent';

export interface StackProcess {
  url: string;
  pid: number;
  /** Still running (not exited). */
  alive(): boolean;
}

export interface HttpStack {
  sys: JobSystem;
  controller: StackProcess;
  agent: StackProcess & { handle: AgentHandle };
  /** A port token for the stack's agent, minted by the controller. */
  portToken(): Promise<string>;
  /** Enrolls another agent id at the controller and answers its credential (for agent-API calls). */
  enroll(agentId: string): Promise<string>;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** HTTPAGENT_* settings for both processes (the HTTP limits are the same keys on both). */
  env?: Record<string, string>;
  controllerEnv?: Record<string, string>;
  agentEnv?: Record<string, string>;
}

const alive = (p: { proc: { exitCode: number | null; signalCode: NodeJS.Signals | null } }) => () => p.proc.exitCode === null && p.proc.signalCode === null;

export async function startHttpStack(opts: StackOptions = {}): Promise<HttpStack> {
  const sys = await startJobSystem({ controllerEnv: { ...opts.env, ...opts.controllerEnv } });
  try {
    const handle = await sys.startAgent(STACK_AGENT_ID, { HTTPAGENT_TASKS_DIR: STACK_TASKS_DIR, ...opts.env, ...opts.agentEnv });
    return {
      sys,
      controller: { url: sys.controllerUrl, pid: sys.controller.proc.pid!, alive: alive(sys.controller) },
      agent: { url: handle.url, pid: handle.proc.pid!, alive: alive(handle), handle },
      portToken: () => sys.portToken(STACK_AGENT_ID, 300),
      enroll: (agentId) => enrollAgent(sys.controllerUrl, ENROLL_TOKEN, agentId),
      stop: () => sys.stop(),
    };
  } catch (err) {
    await sys.stop();
    throw err;
  }
}
