// A whole job system for integration tests: a private redis-server, a real `httpagent controller` and
// any number of real `httpagent agent` processes, plus small platform/agent API callers over HTTP.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testSigningKeyFile, TEST_ENROLL_TOKEN } from './identity.js';
import { platformRequest } from './platform-request.js';
import { freePort } from './ports.js';
import { repoRoot, spawnHttpagent, type Spawned } from './processes.js';
import { startRedis, type PrivateRedis } from './redis-server.js';
import { shareWithTasks } from './task-user.js';
import { waitUntil } from './wait.js';

export const PLATFORM_TOKEN = 'test-platform-token-0123456789';
/** The controller's enrollment token: an agent enrolls with it and gets its own credential. */
export const ENROLL_TOKEN = TEST_ENROLL_TOKEN;
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
  /** Its port, `http://127.0.0.1:N`, as the agent logged it on start. */
  url: string;
  /** The enrollment token file it was given (deleted by the agent once it enrolled). */
  enrollTokenFile: string;
  /** Its credential (`ha1:...`), as it saved it in stateDir. */
  credential(): string;
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
  /** An agent-API call with the credential of agent `as` (read from its state dir): what that host could send. */
  agentApi(method: string, path: string, body: unknown | Buffer, as: AgentHandle): Promise<{ status: number; json: any }>;
  /** A port token for one agent from the controller (POST /v1/agents/:id/token), as a platform gets one. */
  portToken(agentId: string, ttlSec?: number): Promise<string>;
  /** A call to an agent's port with a fresh port token for it (`token: null` sends none, a string sends that). */
  agentPort(agent: AgentHandle, method: string, path: string, body?: unknown, token?: string | null): Promise<{ status: number; json: any }>;
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
  // A root agent runs tasks as another user; they write their markers and pid files into tmp.
  const tmp = shareWithTasks(mkdtempSync(join(tmpdir(), 'httpagent-jobs-')));
  const leaseMs = String(opts.leaseMs ?? 2000);
  const agents: AgentHandle[] = [];

  const startController = async () => {
    const c = spawnHttpagent(['controller'], {
      HTTPAGENT_REDIS_URL: redis.url,
      HTTPAGENT_LISTEN: `127.0.0.1:${port}`,
      HTTPAGENT_ENROLL_TOKEN: ENROLL_TOKEN,
      HTTPAGENT_SIGNING_KEY_FILE: testSigningKeyFile(),
      HTTPAGENT_PLATFORM_TOKEN: PLATFORM_TOKEN,
      HTTPAGENT_LEASE_MS: leaseMs,
      HTTPAGENT_LONG_POLL_MS: String(opts.longPollMs ?? 3000),
      ...opts.controllerEnv,
    });
    await c.waitFor(/controller listening/, 60_000);
    return c;
  };

  /** The last lines of every process this system started (the controller as `sys.controller` is now). */
  const lastWords = (): string =>
    [['controller', sys.controller] as const, ...agents.map((a) => [`agent ${a.id}`, a] as const)]
      .map(([name, p]) => `--- ${name} (last lines)\n${p.output().split('\n').slice(-25).join('\n')}`)
      .join('\n');

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
      // As install.sh leaves it: a token file the agent reads once, enrolls with and deletes.
      const enrollTokenFile = join(tmp, `enroll-token-${id}`);
      writeFileSync(enrollTokenFile, `${ENROLL_TOKEN}\n`, { mode: 0o600 });
      const merged: Record<string, string | undefined> = {
        HTTPAGENT_CONTROLLER_URL: controllerUrl,
        HTTPAGENT_AGENT_ID: id,
        HTTPAGENT_LISTEN: '127.0.0.1:0',
        HTTPAGENT_ENROLL_TOKEN_FILE: enrollTokenFile,
        HTTPAGENT_TASKS_DIR: fixtureTasks,
        HTTPAGENT_STATE_DIR: stateDir,
        HTTPAGENT_LEASE_MS: leaseMs,
        HTTPAGENT_KILL_GRACE_MS: '500',
        HTTPAGENT_CONCURRENCY: '2',
        ...env,
      };
      const a = spawnHttpagent(['agent'], Object.fromEntries(Object.entries(merged).filter((e): e is [string, string] => e[1] !== undefined)));
      const handle = Object.assign(a, { id, stateDir, enrollTokenFile, url: '', credential: () => readFileSync(join(stateDir, 'credential'), 'utf8').trim() });
      agents.push(handle);
      // Fail at once, with its output, if the agent exits instead of starting.
      const started = await Promise.race([
        a.waitFor(/^.*"agent started".*$/m, 60_000),
        a.exited().then((code): string => {
          throw new Error(`agent ${id} exited (${code}) before starting:\n${a.output()}`);
        }),
      ]);
      handle.url = /"listen":"(http:\/\/[^"]+)"/.exec(started)![1]!;
      return handle;
    },
    cliEnv: () => ({ HTTPAGENT_CONTROLLER_URL: controllerUrl, HTTPAGENT_PLATFORM_TOKEN: PLATFORM_TOKEN }),
    platform: (method, path, body) => platformRequest(controllerUrl, PLATFORM_TOKEN, method, path, body),
    async agentApi(method, path, body, as) {
      const raw = Buffer.isBuffer(body);
      const res = await fetch(`${controllerUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${as.credential()}`, 'content-type': raw ? 'application/octet-stream' : 'application/json' },
        body: raw ? body : JSON.stringify(body),
      });
      return { status: res.status, json: await res.json().catch(() => undefined) };
    },
    async portToken(agentId, ttlSec) {
      const r = await sys.platform('POST', `/v1/agents/${encodeURIComponent(agentId)}/token`, ttlSec === undefined ? {} : { ttlSec });
      if (r.status !== 200) throw new Error(`port token for ${agentId}: ${r.status} ${r.text}`);
      return r.json.token as string;
    },
    async agentPort(agent, method, path, body, token) {
      const bearer = token === undefined ? await sys.portToken(agent.id) : token;
      const res = await fetch(`${agent.url}${path}`, {
        method,
        headers: { ...(bearer === null ? {} : { authorization: `Bearer ${bearer}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
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
    // A wait that runs out says what the processes said last: a flake seen once under stress is then
    // readable from the CI log alone.
    waitFor: (what, probe, timeoutMs = 60_000) => waitUntil(what, probe, { timeoutMs, explain: lastWords }),
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
