// The monitor as production runs it: real processes for redis, the controller, the agent and the
// monitor, and a real SMTP server. Checks what the platform sees (GET /v1/agents, metrics history)
// and what people receive by mail, through an agent failure, a monitor restart and an outage.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testSigningKeyFile, TEST_ENROLL_TOKEN } from '../helpers/identity.js';
import { freePort } from '../helpers/ports.js';
import { spawnHttpagent, type Spawned } from '../helpers/processes.js';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';

const PLATFORM_TOKEN = 'platform-token-monitor-test-0123';
const AGENT_ID = 'mon-host-1';

let redis: PrivateRedis;
let smtp: SmtpSink;
let dir: string;
let ctlPort: number;
let agentPort: number;
let controller: Spawned | undefined;
let agent: Spawned | undefined;
let monitor: Spawned | undefined;

const ctlUrl = () => `http://127.0.0.1:${ctlPort}`;

async function startController(): Promise<Spawned> {
  const c = spawnHttpagent(['controller'], {
    HTTPAGENT_REDIS_URL: redis.url,
    HTTPAGENT_LISTEN: `127.0.0.1:${ctlPort}`,
    HTTPAGENT_ENROLL_TOKEN: TEST_ENROLL_TOKEN,
    HTTPAGENT_SIGNING_KEY_FILE: testSigningKeyFile(),
    HTTPAGENT_PLATFORM_TOKEN: PLATFORM_TOKEN,
    HTTPAGENT_LOG_LEVEL: 'info',
  });
  await c.waitFor(/controller listening/, 60_000).catch(async (err: unknown) => {
    await c.kill('SIGKILL'); // never leave a half-started controller behind
    throw err;
  });
  return c;
}

/** The agent's state dir: its credential, which the monitor on the same host speaks with. */
const agentState = () => join(dir, 'agent');

async function startAgent(): Promise<Spawned> {
  // The first start enrolls with this file (and deletes it); later starts keep the credential.
  writeFileSync(join(dir, 'enroll-token'), TEST_ENROLL_TOKEN, { mode: 0o600 });
  const a = spawnHttpagent(['agent'], {
    HTTPAGENT_AGENT_ID: AGENT_ID,
    HTTPAGENT_LISTEN: `127.0.0.1:${agentPort}`,
    HTTPAGENT_CONTROLLER_URL: ctlUrl(),
    HTTPAGENT_ENROLL_TOKEN_FILE: join(dir, 'enroll-token'),
    HTTPAGENT_STATE_DIR: agentState(),
    HTTPAGENT_LOG_LEVEL: 'info',
  });
  await a.waitFor(/agent started/, 60_000).catch(async (err: unknown) => {
    await a.kill('SIGKILL');
    throw err;
  });
  return a;
}

/** `fresh`: a state dir holding only the agent's credential (the local alert state lost). */
function startMonitor(fresh?: string): Spawned {
  let stateDir = agentState();
  if (fresh) {
    stateDir = join(dir, fresh);
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    copyFileSync(join(agentState(), 'credential'), join(stateDir, 'credential'));
  }
  return spawnHttpagent(['monitor'], {
    HTTPAGENT_AGENT_ID: AGENT_ID,
    HTTPAGENT_LISTEN: `127.0.0.1:${agentPort}`,
    HTTPAGENT_CONTROLLER_URL: ctlUrl(),
    HTTPAGENT_STATE_DIR: stateDir,
    HTTPAGENT_METRICS_INTERVAL_SEC: '1',
    HTTPAGENT_CHECK_INTERVAL_SEC: '1',
    HTTPAGENT_CHECK_TIMEOUT_MS: '1000',
    HTTPAGENT_ALERT_AFTER_FAILURES: '2',
    HTTPAGENT_ALERT_RECOVER_AFTER: '1',
    HTTPAGENT_ALERT_REPEAT_SEC: '3600',
    HTTPAGENT_ALERT_GROUP_MS: '300',
    // thresholds out of reach: a busy shared test machine must not raise CPU alerts here
    HTTPAGENT_ALERT_CPU_PERCENT: '100',
    HTTPAGENT_ALERT_MEMORY_PERCENT: '100',
    HTTPAGENT_ALERT_DISK_PERCENT: '100',
    HTTPAGENT_SMTP_URL: smtp.url,
    HTTPAGENT_ALERT_TO: 'ops@example.test',
    HTTPAGENT_ALERT_FROM: 'monitor@example.test',
    HTTPAGENT_LOG_LEVEL: 'info',
  });
}

interface AgentRow {
  id: string;
  monitor: 'online' | 'lapsed' | 'unknown';
  monitorSeenAt: string | null;
  monitorChecks: Record<string, boolean> | null;
  metrics: { ts: number; memory?: { totalBytes: number } } | null;
}

async function platformGet<T>(path: string): Promise<T> {
  const res = await request(`${ctlUrl()}${path}`, { headers: { authorization: `Bearer ${PLATFORM_TOKEN}` } });
  const body = (await res.body.json()) as T;
  if (res.statusCode !== 200) throw new Error(`GET ${path}: ${res.statusCode} ${JSON.stringify(body)}`);
  return body;
}

const row = async (): Promise<AgentRow | undefined> => {
  const body = await platformGet<{ agents: AgentRow[] } | AgentRow[]>('/v1/agents');
  const list = Array.isArray(body) ? body : body.agents;
  return list.find((a) => a.id === AGENT_ID);
};

/** Polls until `fn` returns something truthy (the processes run on their own clocks). */
async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const subjects = () => smtp.mails.map((m) => m.subject);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'monitor-ctl-'));
  // AOF: the agent's credential must outlive the Redis restart below, as it would in production.
  [redis, smtp, ctlPort, agentPort] = await Promise.all([startRedis({ aof: true }), startSmtpSink(), freePort(), freePort()]);
  controller = await startController();
  agent = await startAgent();
  monitor = startMonitor();
  await monitor.waitFor(/monitor started/, 60_000);
}, 180_000);

afterAll(async () => {
  await Promise.all([monitor?.kill(), agent?.kill(), controller?.kill()]);
  await Promise.all([redis?.stop(), smtp?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('monitor with the real controller', () => {
  it('shows its heartbeat, checks and latest sample in GET /v1/agents and keeps a history', async () => {
    const r = await until('a monitored agent row', async () => {
      const a = await row();
      return a?.monitor === 'online' && a.metrics?.memory && a.monitorChecks?.agent ? a : undefined;
    });
    expect(r.monitorSeenAt).not.toBeNull();
    expect(r.monitorChecks).toMatchObject({ agent: true, cpu: true, memory: true, 'disk:/': true });
    expect(r.metrics!.memory!.totalBytes).toBeGreaterThan(0);
    const hist = await until('3 samples in the history', async () => {
      const h = await platformGet<{ samples: { ts: number; cpu: unknown }[] }>(`/v1/agents/${AGENT_ID}/metrics?since=0`);
      return h.samples.length >= 3 ? h.samples : undefined;
    });
    expect(hist.map((s) => s.ts)).toEqual([...hist.map((s) => s.ts)].sort((a, b) => a - b));
    expect(hist.some((s) => s.cpu !== null)).toBe(true);
    const since = hist.at(-1)!.ts;
    const later = await platformGet<{ samples: { ts: number }[] }>(`/v1/agents/${AGENT_ID}/metrics?since=${since}`);
    expect(later.samples.every((s) => s.ts >= since)).toBe(true);
    expect(smtp.mails).toHaveLength(0);
  });

  it('mails once when the agent dies, not again after monitor restarts, and once on recovery', async () => {
    await agent!.kill('SIGKILL');
    await smtp.waitForMails(1);
    expect(subjects()).toEqual([`[httpagent] ${AGENT_ID}: FAILING agent`]);
    // Restart on the same host: the local state file is the newest copy.
    expect(await monitor!.kill('SIGTERM')).toBe(0);
    monitor = startMonitor();
    await monitor.waitFor(/"msg":"alert state loaded"/);
    expect(monitor.output()).toMatch(/"open":\["agent"\],"from":"(local|controller)"/);
    await new Promise((r) => setTimeout(r, 2500));
    expect(await monitor.kill('SIGTERM')).toBe(0);
    // Restart with the local copy lost (a fresh state dir): the controller's copy carries the incident.
    monitor = startMonitor('monitor-fresh');
    await monitor.waitFor(/"msg":"alert state loaded"/);
    expect(monitor.output()).toMatch(/"open":\["agent"\],"from":"controller"/);
    // several check rounds with the agent still down: the open incident is not mailed again
    await new Promise((r) => setTimeout(r, 3500));
    expect(smtp.mails).toHaveLength(1);
    agent = await startAgent();
    await smtp.waitForMails(2);
    expect(subjects()[1]).toBe(`[httpagent] ${AGENT_ID}: RECOVERED agent`);
  });

  it('survives the controller and Redis going down, mails once, and flushes the buffered samples', async () => {
    smtp.mails.length = 0;
    const outageStart = Date.now();
    await redis.kill();
    await new Promise((r) => setTimeout(r, 1500)); // the controller answers 5xx without Redis
    await controller!.kill('SIGKILL');
    await smtp.waitForMails(1);
    expect(subjects()[0]).toContain('FAILING controller');
    await new Promise((r) => setTimeout(r, 3000));
    expect(monitor!.proc.exitCode).toBeNull();
    expect(subjects().filter((s) => s.includes('controller'))).toHaveLength(1);
    const outageEnd = Date.now();
    await redis.start();
    controller = await startController();
    await until('the recovery mail', async () => subjects().find((s) => s.includes('RECOVERED') && s.includes('controller')));
    // Nothing reached the controller during the outage: what it has now for it came from the monitor's buffer.
    const inOutage = await until('buffered samples flushed', async () => {
      const h = await platformGet<{ samples: { ts: number }[] }>(`/v1/agents/${AGENT_ID}/metrics?since=${outageStart}`);
      const during = h.samples.filter((s) => s.ts > outageStart + 1000 && s.ts < outageEnd);
      return during.length >= 3 ? during : undefined;
    });
    expect(inOutage.length).toBeGreaterThanOrEqual(3);
    expect(monitor!.output()).toMatch(/"msg":"controller reachable"/);
    expect(subjects().filter((s) => s.includes('controller'))).toHaveLength(2);
  });

  it('shows a lapsed heartbeat once the monitor stops', async () => {
    // The agent's registration may have lapsed while the controller was down: it is listed again first.
    await until('the agent listed again', async () => (await row())?.monitor === 'online');
    expect(await monitor!.kill('SIGTERM')).toBe(0);
    expect(monitor!.output()).toMatch(/"msg":"monitor stopped"/);
    const r = await until('the heartbeat to lapse (TTL 3 s)', async () => {
      const a = await row();
      return a?.monitor === 'lapsed' ? a : undefined;
    });
    expect(r.monitorSeenAt).not.toBeNull();
  });
});
