// A whole job system for integration tests: a private redis-server, a real `httpagent controller` and
// any number of real `httpagent agent` processes, plus small platform/agent API callers over HTTP.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { platformRequest } from './platform-request.js';
import { freePort } from './ports.js';
import { repoRoot, spawnHttpagent, type Spawned } from './processes.js';
import { startRedis, type PrivateRedis } from './redis-server.js';
import { waitUntil } from './wait.js';

export const AGENT_TOKEN = 'test-agent-token-0123456789';
export const PLATFORM_TOKEN = 'test-platform-token-0123456789';
export const fixtureTasks = join(repoRoot, 'test/fixtures/tasks');

export interface JobSystemOptions {
  leaseMs?: number;
  longPollMs?: number;
  /** Extra controller env. */
  controllerEnv?: Record<string, string>;
}

export interface AgentHandle extends Spawned {
  id: string;
  stateDir: string;
}

export interface JobSystem {
  redis: PrivateRedis;
  controllerUrl: string;
  controller: Spawned;
  tmp: string;
  startController(): Promise<Spawned>;
  /** `env` values of undefined remove a default (e.g. HTTPAGENT_TASKS_DIR to use the repo's scripts/). */
  startAgent(id: string, env?: Record<string, string | undefined>): Promise<AgentHandle>;
  /** Env for the console (`httpagent job ...`). */
  cliEnv(): Record<string, string>;
  platform(method: string, path: string, body?: unknown): Promise<{ status: number; json: any; text: string; headers: Headers }>;
  agentApi(method: string, path: string, body?: unknown | Buffer): Promise<{ status: number; json: any }>;
  submit(job: unknown): Promise<string>;
  job(id: string): Promise<any>;
  log(id: string): Promise<string>;
  waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs?: number): Promise<T>;
  waitFinal(id: string, timeoutMs?: number): Promise<any>;
  stop(): Promise<void>;
}

export async function startJobSystem(opts: JobSystemOptions = {}): Promise<JobSystem> {
  const redis = await startRedis({ aof: true });
  const port = await freePort();
  const controllerUrl = `http://127.0.0.1:${port}`;
  const tmp = mkdtempSync(join(tmpdir(), 'httpagent-jobs-'));
  const leaseMs = String(opts.leaseMs ?? 2000);
  const agents: AgentHandle[] = [];

  const startController = async () => {
    const c = spawnHttpagent(['controller'], {
      HTTPAGENT_REDIS_URL: redis.url,
      HTTPAGENT_LISTEN: `127.0.0.1:${port}`,
      HTTPAGENT_AGENT_TOKEN: AGENT_TOKEN,
      HTTPAGENT_PLATFORM_TOKEN: PLATFORM_TOKEN,
      HTTPAGENT_LEASE_MS: leaseMs,
      HTTPAGENT_LONG_POLL_MS: String(opts.longPollMs ?? 3000),
      ...opts.controllerEnv,
    });
    await c.waitFor(/controller listening/, 60_000);
    return c;
  };

  let first: Spawned;
  try {
    first = await startController();
  } catch (err) {
    await redis.stop();
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  const sys: JobSystem = {
    redis,
    controllerUrl,
    tmp,
    controller: first,
    startController: async () => (sys.controller = await startController()),
    async startAgent(id, env = {}) {
      const stateDir = join(tmp, `state-${id}`);
      const merged: Record<string, string | undefined> = {
        HTTPAGENT_CONTROLLER_URL: controllerUrl,
        HTTPAGENT_AGENT_ID: id,
        HTTPAGENT_LISTEN: '127.0.0.1:0',
        HTTPAGENT_AGENT_TOKEN: AGENT_TOKEN,
        HTTPAGENT_PLATFORM_TOKEN: PLATFORM_TOKEN,
        HTTPAGENT_TASKS_DIR: fixtureTasks,
        HTTPAGENT_STATE_DIR: stateDir,
        HTTPAGENT_LEASE_MS: leaseMs,
        HTTPAGENT_KILL_GRACE_MS: '500',
        HTTPAGENT_CONCURRENCY: '2',
        ...env,
      };
      const a = spawnHttpagent(['agent'], Object.fromEntries(Object.entries(merged).filter((e): e is [string, string] => e[1] !== undefined)));
      const handle = Object.assign(a, { id, stateDir });
      agents.push(handle);
      // Fail at once, with its output, if the agent exits instead of starting.
      await Promise.race([
        // A loaded two-core machine can take well over 20 s to start a process through tsx.
        a.waitFor(/"agent started"/, 60_000),
        a.exited().then((code) => {
          throw new Error(`agent ${id} exited (${code}) before starting:\n${a.output()}`);
        }),
      ]);
      return handle;
    },
    cliEnv: () => ({ HTTPAGENT_CONTROLLER_URL: controllerUrl, HTTPAGENT_PLATFORM_TOKEN: PLATFORM_TOKEN }),
    platform: (method, path, body) => platformRequest(controllerUrl, PLATFORM_TOKEN, method, path, body),
    async agentApi(method, path, body) {
      const raw = Buffer.isBuffer(body);
      const res = await fetch(`${controllerUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${AGENT_TOKEN}`, 'content-type': raw ? 'application/octet-stream' : 'application/json' },
        body: raw ? body : JSON.stringify(body),
      });
      return { status: res.status, json: await res.json().catch(() => undefined) };
    },
    async submit(job) {
      const r = await sys.platform('POST', '/v1/jobs', job);
      if (r.status !== 201 && r.status !== 200) throw new Error(`submit failed: ${r.status} ${r.text}`);
      return r.json.id as string;
    },
    job: async (id) => (await sys.platform('GET', `/v1/jobs/${id}`)).json,
    log: async (id) => (await sys.platform('GET', `/v1/jobs/${id}/log?offset=0`)).text,
    waitFor: (what, probe, timeoutMs = 30_000) => waitUntil(what, probe, { timeoutMs }),
    waitFinal: (id, timeoutMs) =>
      sys.waitFor(`job ${id} to end`, async () => {
        const j = await sys.job(id);
        return ['succeeded', 'failed', 'cancelled'].includes(j?.state) ? j : undefined;
      }, timeoutMs),
    async stop() {
      for (const a of agents) {
        if (a.proc.exitCode === null && a.proc.signalCode === null) {
          a.proc.kill('SIGCONT');
          await a.kill('SIGKILL');
        }
      }
      await sys.controller.kill('SIGKILL');
      await redis.stop();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
  return sys;
}
