// The system the chaos suite attacks: Redis (one server with AOF, or a three-master Cluster), two
// controllers and three agents, each a separate process, with the handles to kill, pause and restart them.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { testSigningKeyFile, TEST_ENROLL_TOKEN } from './identity.js';
import { freePort } from './ports.js';
import { repoRoot, spawnHttpagent, type Spawned } from './processes.js';
import { startRedisCluster, type PrivateCluster } from './redis-cluster.js';
import { startRedis, type PrivateRedis } from './redis-server.js';
import { shareWithTasks } from './task-user.js';
import { waitUntil } from './wait.js';

export const CHAOS_PLATFORM_TOKEN = 'chaos-platform-token-0123456789';
export const chaosTasksDir = join(repoRoot, 'test/fixtures/chaos-tasks');

export interface ChaosSystemOptions {
  /** `single`: one redis-server with AOF; `cluster`: three masters, the controllers on ioredis' Cluster client. */
  redis: 'single' | 'cluster';
  /**
   * How the Redis restart event stops Redis. `term`: SIGTERM, a clean shutdown that fsyncs the AOF, with the
   * production setting appendfsync everysec. `kill`: SIGKILL with appendfsync always, so no write Redis
   * acknowledged is lost (with everysec a SIGKILL may lose the last second, which can hand out an epoch twice).
   */
  redisStop: 'term' | 'kill';
  agents: number;
  controllers: number;
  concurrency: number;
  leaseMs: number;
  longPollMs: number;
  logLevel?: string;
}

export interface ControllerSlot {
  index: number;
  url: string;
  port: number;
  proc?: Spawned;
  /** Output of every generation of this controller, oldest first. */
  outputs: Spawned[];
}

export interface AgentSlot {
  index: number;
  id: string;
  stateDir: string;
  labels: Record<string, string>;
  /** The controller this generation talks to (agents are spread across controllers, and move on restart). */
  controller: number;
  proc?: Spawned;
  outputs: Spawned[];
}

export interface ChaosSystem {
  opts: ChaosSystemOptions;
  controllers: ControllerSlot[];
  agents: AgentSlot[];
  journal: string;
  tmp: string;
  /** A Redis client for the checker (a Cluster client on a cluster). The caller quits it. */
  redisClient(): Redis | Cluster;
  redisDescription: string;
  startController(i: number): Promise<void>;
  stopController(i: number, signal: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  startAgent(i: number, controller?: number): Promise<void>;
  stopAgent(i: number, signal: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  pauseAgent(i: number): void;
  resumeAgent(i: number): void;
  /** Stops Redis (see redisStop) and starts it again on the same port and data dir. Single Redis only. */
  restartRedis(): Promise<void>;
  /** Processes that ended without the suite stopping them (a crash is a finding). */
  unexpectedExits(): { name: string; code: number | string; tail: string }[];
  /** Processes that did not stop when asked. */
  stuck(): string[];
  stop(): Promise<void>;
}

export async function startChaosSystem(opts: ChaosSystemOptions): Promise<ChaosSystem> {
  // A root agent runs tasks as another user; they append to the journal in tmp.
  const tmp = shareWithTasks(mkdtempSync(join(tmpdir(), 'httpagent-chaos-')));
  const journal = join(tmp, 'journal');
  let single: PrivateRedis | undefined;
  let cluster: PrivateCluster | undefined;
  if (opts.redis === 'single') {
    single = await startRedis({ aof: true, extraArgs: opts.redisStop === 'kill' ? ['--appendfsync', 'always'] : [] });
  } else {
    cluster = await startRedisCluster();
  }
  const redisEnv: Record<string, string> = single ? { HTTPAGENT_REDIS_URL: single.url } : { HTTPAGENT_REDIS_CLUSTER: cluster!.nodes.join(',') };

  const controllers: ControllerSlot[] = [];
  for (let i = 0; i < opts.controllers; i++) {
    const port = await freePort();
    controllers.push({ index: i, port, url: `http://127.0.0.1:${port}`, outputs: [] });
  }
  const agents: AgentSlot[] = [];
  for (let i = 0; i < opts.agents; i++) {
    const stateDir = join(tmp, `agent-${i}`);
    mkdirSync(stateDir, { recursive: true });
    agents.push({ index: i, id: `chaos-agent-${i}`, stateDir, labels: { zone: i % 2 === 0 ? 'a' : 'b', slot: String(i) }, controller: i % opts.controllers, outputs: [] });
  }

  const stoppedByUs = new WeakSet<Spawned>();
  const stuck: string[] = [];
  const alive = (p?: Spawned) => !!p && p.proc.exitCode === null && p.proc.signalCode === null;

  const sys: ChaosSystem = {
    opts,
    controllers,
    agents,
    journal,
    tmp,
    redisDescription: single ? `redis-server with AOF (appendfsync ${opts.redisStop === 'kill' ? 'always' : 'everysec'})` : `Redis Cluster, 3 masters (${cluster!.nodes.join(', ')})`,
    redisClient: () => (single ? single.client() : new Cluster(cluster!.nodes.map((n) => ({ host: n.split(':')[0]!, port: Number(n.split(':')[1]) })))),
    async startController(i) {
      const slot = controllers[i]!;
      // The port may linger a moment after a kill -9: a controller that cannot listen exits, and is started again.
      for (let tries = 0; ; tries++) {
        const proc = spawnHttpagent(['controller'], {
          ...redisEnv,
          HTTPAGENT_LISTEN: `127.0.0.1:${slot.port}`,
          // Every controller the same enrollment token and signing key: any of them serves any agent.
          HTTPAGENT_ENROLL_TOKEN: TEST_ENROLL_TOKEN,
          HTTPAGENT_SIGNING_KEY_FILE: testSigningKeyFile(),
          HTTPAGENT_PLATFORM_TOKEN: CHAOS_PLATFORM_TOKEN,
          HTTPAGENT_LEASE_MS: String(opts.leaseMs),
          HTTPAGENT_LONG_POLL_MS: String(opts.longPollMs),
          HTTPAGENT_REAP_INTERVAL_MS: '200',
          HTTPAGENT_LOG_LEVEL: opts.logLevel ?? 'info',
        });
        slot.proc = proc;
        slot.outputs.push(proc);
        const up = await Promise.race([answers(`${slot.url}/healthz`, 60_000).then(() => true), proc.exited().then(() => false)]);
        if (up) return;
        if (tries >= 3) throw new Error(`controller ${i} exited on start:\n${proc.output().slice(-2000)}`);
        // It could not listen yet: a killed predecessor's port may linger a moment. Try again shortly.
        await new Promise((r) => setTimeout(r, 300));
      }
    },
    async stopController(i, signal) {
      const slot = controllers[i]!;
      if (!alive(slot.proc)) return;
      const proc = slot.proc!;
      stoppedByUs.add(proc);
      proc.proc.kill(signal);
      // A graceful stop that hangs is a finding, not a reason for the suite to hang: note it, then SIGKILL.
      const timer = setTimeout(() => {
        stuck.push(`controller ${i} did not exit within 15 s of ${signal}; killed`);
        proc.proc.kill('SIGKILL');
      }, 15_000);
      await proc.exited();
      clearTimeout(timer);
    },
    async startAgent(i, controller) {
      const slot = agents[i]!;
      if (controller !== undefined) slot.controller = controller;
      const credential = join(slot.stateDir, 'credential');
      const enrolled = existsSync(credential);
      // The first start enrolls with this file (the agent deletes it); later ones keep the credential.
      const enrollTokenFile = join(tmp, `enroll-token-${i}`);
      if (!enrolled) writeFileSync(enrollTokenFile, TEST_ENROLL_TOKEN, { mode: 0o600 });
      const proc = spawnHttpagent(['agent'], {
        HTTPAGENT_CONTROLLER_URL: controllers[slot.controller]!.url,
        HTTPAGENT_AGENT_ID: slot.id,
        HTTPAGENT_LISTEN: '127.0.0.1:0',
        HTTPAGENT_ENROLL_TOKEN_FILE: enrollTokenFile,
        HTTPAGENT_TASKS_DIR: chaosTasksDir,
        HTTPAGENT_STATE_DIR: slot.stateDir,
        HTTPAGENT_LEASE_MS: String(opts.leaseMs),
        HTTPAGENT_CLAIM_WAIT_MS: String(opts.longPollMs),
        HTTPAGENT_CONCURRENCY: String(opts.concurrency),
        HTTPAGENT_LABELS: Object.entries(slot.labels).map(([k, v]) => `${k}=${v}`).join(','),
        HTTPAGENT_KILL_GRACE_MS: '300',
        HTTPAGENT_DRAIN_GRACE_SEC: '5',
        // info: the checker reads each "result delivered" line (job, epoch, duplicate) as the agents' side of the story.
        HTTPAGENT_LOG_LEVEL: 'info',
      });
      slot.proc = proc;
      slot.outputs.push(proc);
      await Promise.race([
        proc.waitFor(/"agent started"/, 60_000),
        proc.exited().then((code) => Promise.reject(new Error(`agent ${slot.id} exited (${code}) on start:\n${proc.output().slice(-2000)}`))),
      ]);
      // A first start is not over until the credential is saved: an agent killed between the controller's
      // enroll and that write would find its id taken (409 AGENT_ENROLLED) ever after.
      if (!enrolled) await waitUntil(`${slot.id} enrolled`, () => existsSync(credential), { timeoutMs: 60_000 });
    },
    async stopAgent(i, signal) {
      const slot = agents[i]!;
      if (!alive(slot.proc)) return;
      stoppedByUs.add(slot.proc!);
      slot.proc!.proc.kill('SIGCONT');
      await slot.proc!.kill(signal);
    },
    pauseAgent(i) {
      agents[i]!.proc?.proc.kill('SIGSTOP');
    },
    resumeAgent(i) {
      agents[i]!.proc?.proc.kill('SIGCONT');
    },
    async restartRedis() {
      if (!single) throw new Error('restartRedis: only a single Redis server is restarted');
      if (opts.redisStop === 'kill') await single.kill();
      else await single.shutdown();
      await single.start();
    },
    stuck: () => [...stuck],
    unexpectedExits() {
      const out: { name: string; code: number | string; tail: string }[] = [];
      const look = (name: string, p: Spawned) => {
        const code = p.proc.exitCode ?? p.proc.signalCode;
        // A controller that could not take its port was replaced at once; that is not a crash.
        if (code !== null && !stoppedByUs.has(p) && !/EADDRINUSE|cannot listen/.test(p.output())) out.push({ name, code, tail: p.output().slice(-1500) });
      };
      for (const c of controllers) c.outputs.forEach((p) => look(`controller ${c.index}`, p));
      for (const a of agents) a.outputs.forEach((p) => look(a.id, p));
      return out;
    },
    async stop() {
      await Promise.all(agents.map((a) => sys.stopAgent(a.index, 'SIGKILL')));
      await Promise.all(controllers.map((c) => sys.stopController(c.index, 'SIGKILL')));
      await single?.stop();
      await cluster?.stop();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
  return sys;
}

/** Resolves once `url` answers (any status below 500); a controller's log level may hide its start line. */
async function answers(url: string, timeoutMs: number): Promise<void> {
  await waitUntil(`${url} to answer`, () => fetch(url, { signal: AbortSignal.timeout(2000) }).then((r) => r.status < 500), { timeoutMs });
}
