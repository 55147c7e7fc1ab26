// A real controller process over a private Redis and a real agent process registered with it, each in
// its own process group (killed whole in stop()), for tests that attack both HTTP servers as deployed.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';
import { binTs, repoRoot, track, type Spawned } from './processes.js';
import { startRedis, type PrivateRedis } from './redis-server.js';

export const STACK_AGENT_TOKEN = 'stack-agent-token-0123456789abcdef';
export const STACK_PLATFORM_TOKEN = 'stack-platform-token-0123456789abcdef';
/** Tasks the agent's /v1/run may start: small fixture scripts (true, echo-params, slow...). */
export const STACK_TASKS_DIR = fileURLToPath(new URL('../fixtures/http-tasks', import.meta.url));

export interface StackProcess {
  url: string;
  spawned: Spawned;
  pid: number;
  /** Still running (not exited, not a zombie). */
  alive(): boolean;
}

export interface HttpStack {
  controller: StackProcess;
  agent: StackProcess;
  redis: PrivateRedis;
  dir: string;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** HTTPAGENT_* settings for both processes (the HTTP limits are the same keys on both). */
  env?: Record<string, string>;
  controllerEnv?: Record<string, string>;
  agentEnv?: Record<string, string>;
}

function spawnGroup(args: string[], env: Record<string, string>): Spawned {
  const proc = spawn(process.execPath, ['--import', 'tsx', binTs, ...args], {
    cwd: repoRoot,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
  });
  return track(proc);
}

async function killGroup(s: Spawned | undefined): Promise<void> {
  if (!s?.proc.pid) return;
  try {
    process.kill(-s.proc.pid, 'SIGKILL');
  } catch {
    // already gone
  }
  await s.exited();
}

function stackProcess(url: string, spawned: Spawned): StackProcess {
  return { url, spawned, pid: spawned.proc.pid!, alive: () => spawned.proc.exitCode === null && spawned.proc.signalCode === null };
}

export async function startHttpStack(opts: StackOptions = {}): Promise<HttpStack> {
  const dir = mkdtempSync(join(tmpdir(), 'httpagent-stack-'));
  const redis = await startRedis();
  let controller: Spawned | undefined;
  let agent: Spawned | undefined;
  const stop = async () => {
    await killGroup(agent);
    await killGroup(controller);
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const tokens = { HTTPAGENT_AGENT_TOKEN: STACK_AGENT_TOKEN, HTTPAGENT_PLATFORM_TOKEN: STACK_PLATFORM_TOKEN };
    controller = spawnGroup(['controller'], {
      ...tokens,
      HTTPAGENT_REDIS_URL: redis.url,
      HTTPAGENT_LISTEN: '127.0.0.1:0',
      HTTPAGENT_LOG_LEVEL: 'info',
      ...opts.env,
      ...opts.controllerEnv,
    });
    const line = await controller.waitFor(/\{[^\n]*controller listening[^\n]*\}/, 30_000);
    const controllerUrl = (JSON.parse(line) as { url: string }).url;

    const listen = `127.0.0.1:${await freePort()}`;
    agent = spawnGroup(['agent'], {
      ...tokens,
      HTTPAGENT_AGENT_ID: 'stack-agent',
      HTTPAGENT_LISTEN: listen,
      HTTPAGENT_CONTROLLER_URL: controllerUrl,
      HTTPAGENT_STATE_DIR: join(dir, 'agent-state'),
      HTTPAGENT_TASKS_DIR: STACK_TASKS_DIR,
      HTTPAGENT_LOG_LEVEL: 'info',
      ...opts.env,
      ...opts.agentEnv,
    });
    await agent.waitFor(/"msg":"agent started"/, 30_000);
    return { controller: stackProcess(controllerUrl, controller), agent: stackProcess(`http://${listen}`, agent), redis, dir, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
