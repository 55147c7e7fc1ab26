// The monitor as production runs it: real processes for redis, the controller, the agent and the
// monitor, and a real SMTP server. Checks what the platform sees (GET /v1/agents, metrics history)
// and what people receive by mail, through an agent failure, a monitor restart and an outage.
// Each test starts its own stack, so any one of them runs alone and in any order.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { describe, expect, it, onTestFinished } from 'vitest';
import { testSigningKeyFile, TEST_ENROLL_TOKEN } from '../helpers/identity.js';
import { freePort } from '../helpers/ports.js';
import { spawnHttpagent, type Spawned } from '../helpers/processes.js';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';
import { waitUntil } from '../helpers/wait.js';

const PLATFORM_TOKEN = 'platform-token-monitor-test-0123';
const AGENT_ID = 'mon-host-1';

interface AgentRow {
  id: string;
  monitor: 'online' | 'lapsed' | 'unknown';
  monitorSeenAt: string | null;
  monitorChecks: Record<string, boolean> | null;
  metrics: { ts: number; memory?: { totalBytes: number } } | null;
}

/** Redis, controller, agent and monitor on private ports, with a real SMTP sink for the alerts. */
async function startStack() {
  const dir = mkdtempSync(join(tmpdir(), 'monitor-ctl-'));
  // AOF: the agent's credential must outlive a Redis restart, as it would in production.
  const [redis, smtp, ctlPort, agentPort] = await Promise.all([startRedis({ aof: true }), startSmtpSink(), freePort(), freePort()]);
  // Stopped however the test ends, also while the stack is still starting (a timeout).
  onTestFinished(() => s.stop());
  const ctlUrl = `http://127.0.0.1:${ctlPort}`;

  const startController = async (): Promise<Spawned> => {
    const c = spawnHttpagent(['controller'], {
      HTTPAGENT_REDIS_URL: redis.url,
      HTTPAGENT_LISTEN: `127.0.0.1:${ctlPort}`,
      HTTPAGENT_ENROLL_TOKEN: TEST_ENROLL_TOKEN,
      HTTPAGENT_SIGNING_KEY_FILE: testSigningKeyFile(),
      HTTPAGENT_PLATFORM_TOKEN: PLATFORM_TOKEN,
      HTTPAGENT_LOG_LEVEL: 'info',
    });
    s.controller = c;
    await c.waitFor(/controller listening/);
    return c;
  };
  /** The agent's state dir: its credential, which the monitor on the same host speaks with. */
  const agentState = join(dir, 'agent');
  const startAgent = async (): Promise<Spawned> => {
    // The first start enrolls with this file (and deletes it); later starts keep the credential.
    writeFileSync(join(dir, 'enroll-token'), TEST_ENROLL_TOKEN, { mode: 0o600 });
    const a = spawnHttpagent(['agent'], {
      HTTPAGENT_AGENT_ID: AGENT_ID,
      HTTPAGENT_LISTEN: `127.0.0.1:${agentPort}`,
      HTTPAGENT_CONTROLLER_URL: ctlUrl,
      HTTPAGENT_ENROLL_TOKEN_FILE: join(dir, 'enroll-token'),
      HTTPAGENT_STATE_DIR: agentState,
      HTTPAGENT_LOG_LEVEL: 'info',
    });
    s.agent = a;
    await a.waitFor(/agent started/);
    return a;
  };
  /**
   * A monitor checking every second; resolves once it has loaded its alert state and runs. It shares the
   * agent's state dir (the credential), or with `fresh` one holding only a copy of the credential (its
   * local alert state lost).
   */
  const startMonitor = async (fresh?: string): Promise<Spawned> => {
    let stateDir = agentState;
    if (fresh) {
      stateDir = join(dir, fresh);
      mkdirSync(stateDir, { recursive: true, mode: 0o700 });
      copyFileSync(join(agentState, 'credential'), join(stateDir, 'credential'));
    }
    const m = spawnHttpagent(['monitor'], {
      HTTPAGENT_AGENT_ID: AGENT_ID,
      HTTPAGENT_LISTEN: `127.0.0.1:${agentPort}`,
      HTTPAGENT_CONTROLLER_URL: ctlUrl,
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
    s.monitor = m;
    await m.waitFor(/"msg":"alert state loaded"/);
    return m;
  };

  const platformGet = async <T>(path: string): Promise<T> => {
    const res = await request(`${ctlUrl}${path}`, { headers: { authorization: `Bearer ${PLATFORM_TOKEN}` } });
    const body = (await res.body.json()) as T;
    if (res.statusCode !== 200) throw new Error(`GET ${path}: ${res.statusCode} ${JSON.stringify(body)}`);
    return body;
  };
  const row = async (): Promise<AgentRow | undefined> => {
    const body = await platformGet<{ agents: AgentRow[] } | AgentRow[]>('/v1/agents');
    const list = Array.isArray(body) ? body : body.agents;
    return list.find((a) => a.id === AGENT_ID);
  };
  /** Resolves once the controller has taken `n` more monitor heartbeats: each is one finished check round. */
  const checkRounds = async (n: number): Promise<void> => {
    const seen = new Set<string>();
    const first = (await row())?.monitorSeenAt ?? null;
    await waitUntil(`${n} monitor check rounds`, async () => {
      const at = (await row())?.monitorSeenAt;
      if (at && at !== first) seen.add(at);
      return seen.size >= n;
    });
  };

  /** A port token for the agent's /metrics, minted while the controller is up (it outlives an outage). */
  let portToken: Promise<string> | undefined;
  const metricsToken = (): Promise<string> =>
    (portToken ??= (async () => {
      const res = await request(`${ctlUrl}/v1/agents/${AGENT_ID}/token`, {
        method: 'POST',
        headers: { authorization: `Bearer ${PLATFORM_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ttlSec: 300 }),
      });
      const body = (await res.body.json()) as { token?: string };
      if (res.statusCode !== 200 || !body.token) throw new Error(`port token: ${res.statusCode} ${JSON.stringify(body)}`);
      return body.token;
    })());

  /** Resolves once the monitor has checked the agent's /healthz `n` more times (a round, also while the controller is down). */
  const agentChecked = async (n: number): Promise<void> => {
    const token = await metricsToken();
    const count = async () => {
      const res = await request(`http://127.0.0.1:${agentPort}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      const text = await res.body.text();
      return Number(/httpagent_http_request_duration_seconds_count\{method="GET",route="\/healthz",status="200"\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    const start = await count();
    await waitUntil(`${n} more agent checks by the monitor`, async () => (await count()) >= start + n);
  };

  const s = {
    redis,
    smtp,
    dir,
    controller: undefined as Spawned | undefined,
    agent: undefined as Spawned | undefined,
    monitor: undefined as Spawned | undefined,
    startController,
    startAgent,
    startMonitor,
    platformGet,
    row,
    checkRounds,
    agentChecked,
    subjects: () => smtp.mails.map((m) => m.subject),
    async stop() {
      await Promise.all([s.monitor?.kill('SIGKILL'), s.agent?.kill('SIGKILL'), s.controller?.kill('SIGKILL')]);
      await Promise.all([redis.stop(), smtp.close()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await startController();
  await startAgent();
  // The monitor speaks with the agent's credential: until the agent has enrolled it would have none, and
  // its controller check would fail and alert.
  await waitUntil('the agent enrolled', async () => existsSync(join(agentState, 'credential')));
  await startMonitor();
  return s;
}

describe('monitor with the real controller', () => {
  it('shows its heartbeat, checks and latest sample in GET /v1/agents and keeps a history', async () => {
    const s = await startStack();
    const r = await waitUntil('a monitored agent row', async () => {
      const a = await s.row();
      return a?.monitor === 'online' && a.metrics?.memory && a.monitorChecks?.agent ? a : undefined;
    });
    expect(r.monitorSeenAt).not.toBeNull();
    expect(r.monitorChecks).toMatchObject({ agent: true, cpu: true, memory: true, 'disk:/': true });
    expect(r.metrics!.memory!.totalBytes).toBeGreaterThan(0);
    const hist = await waitUntil('3 samples in the history', async () => {
      const h = await s.platformGet<{ samples: { ts: number; cpu: unknown }[] }>(`/v1/agents/${AGENT_ID}/metrics?since=1970-01-01T00:00:00Z`);
      return h.samples.length >= 3 ? h.samples : undefined;
    });
    expect(hist.map((x) => x.ts)).toEqual([...hist.map((x) => x.ts)].sort((a, b) => a - b));
    expect(hist.some((x) => x.cpu !== null)).toBe(true);
    const since = hist.at(-1)!.ts;
    const later = await s.platformGet<{ samples: { ts: number }[] }>(`/v1/agents/${AGENT_ID}/metrics?since=${since}`);
    expect(later.samples.every((x) => x.ts >= since)).toBe(true);
    expect(s.smtp.mails).toHaveLength(0);
  });

  it('mails once when the agent dies, not again after monitor restarts, and once on recovery', async () => {
    const s = await startStack();
    await s.agent!.kill('SIGKILL');
    await s.smtp.waitForMails(1);
    expect(s.subjects()).toEqual([`[httpagent] ${AGENT_ID}: FAILING agent`]);
    // Restart on the same host: the local state file is the newest copy.
    expect(await s.monitor!.kill('SIGTERM')).toBe(0);
    const again = await s.startMonitor();
    expect(again.output()).toMatch(/"open":\["agent"\],"from":"(local|controller)"/);
    await s.checkRounds(3); // rounds with the agent still down
    expect(await again.kill('SIGTERM')).toBe(0);
    // Restart with the local copy lost (a fresh state dir): the controller's copy carries the incident.
    const fresh = await s.startMonitor('monitor-fresh');
    expect(fresh.output()).toMatch(/"open":\["agent"\],"from":"controller"/);
    await s.checkRounds(3);
    await s.startAgent();
    // A repeated FAILING mail from any of those rounds would have been sent before the recovery's.
    await waitUntil('the recovery mail', () => s.subjects().some((x) => x.includes('RECOVERED')));
    expect(s.subjects()).toEqual([`[httpagent] ${AGENT_ID}: FAILING agent`, `[httpagent] ${AGENT_ID}: RECOVERED agent`]);
  });

  it('survives the controller and Redis going down, mails once, and flushes the buffered samples', async () => {
    const s = await startStack();
    const monitor = s.monitor!;
    await waitUntil('a first sample stored', async () => (await s.row())?.metrics);
    await s.agentChecked(1); // mints the port token for the agent's /metrics while the controller is up
    const outageStart = Date.now();
    await s.redis.kill();
    // The controller answers 5xx without Redis: the monitor buffers from the first refused push.
    await monitor.waitFor(/"msg":"controller unreachable; buffering samples"/);
    await s.controller!.kill('SIGKILL');
    await s.smtp.waitForMails(1);
    expect(s.subjects()[0]).toContain('FAILING controller');
    await s.agentChecked(3); // rounds with the controller still down, each with a sample buffered
    await s.redis.start();
    const outageEnd = Date.now();
    await s.startController();
    await waitUntil('the recovery mail', () => s.subjects().find((x) => x.includes('RECOVERED') && x.includes('controller')));
    // Any repeated FAILING mail of the outage would have come before the recovery's.
    expect(s.subjects()).toEqual([`[httpagent] ${AGENT_ID}: FAILING controller`, `[httpagent] ${AGENT_ID}: RECOVERED controller`]);
    expect(monitor.proc.exitCode).toBeNull();
    expect(monitor.output()).toMatch(/"msg":"controller reachable"/);
    // Nothing reached the controller during the outage: what it has from it came from the monitor's buffer.
    // The outage lasted at least five check rounds (two to alert, three more), so at least two metric rounds.
    const inOutage = await waitUntil('buffered samples flushed', async () => {
      const h = await s.platformGet<{ samples: { ts: number }[] }>(`/v1/agents/${AGENT_ID}/metrics?since=${outageStart}`);
      const during = h.samples.filter((x) => x.ts > outageStart && x.ts < outageEnd);
      return during.length >= 2 ? during : undefined;
    });
    expect(inOutage.length).toBeGreaterThanOrEqual(2);
  });

  it('shows a lapsed heartbeat once the monitor stops', async () => {
    const s = await startStack();
    await waitUntil('the monitor online', async () => (await s.row())?.monitor === 'online');
    expect(await s.monitor!.kill('SIGTERM')).toBe(0);
    expect(s.monitor!.output()).toMatch(/"msg":"monitor stopped"/);
    const r = await waitUntil('the heartbeat to lapse (TTL 3 s)', async () => {
      const a = await s.row();
      return a?.monitor === 'lapsed' ? a : undefined;
    });
    expect(r.monitorSeenAt).not.toBeNull();
  });
});
