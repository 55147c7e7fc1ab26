// Process guarding against a real, private supervisord running the shipped program file
// (supervisor/httpagent.conf.in) with the real agent and a real controller: kill -9 recovery (running,
// registered and claiming again), FATAL → alert mail, and the cron watchdog (a dead supervisord, FATAL programs).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { repoRoot } from '../helpers/processes.js';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { AGENT_TOKEN, PLATFORM_TOKEN, call, startController, type Running } from './controller-harness.js';
import {
  alive,
  makeFakePrefix,
  renderTemplate,
  startSmtp,
  startSupervisord,
  tsxLoader,
  waitUntil,
  type PrivateSmtp,
  type PrivateSupervisord,
} from './ops-helpers.js';

const run = promisify(execFile);
const STARTSECS = 2; // as in supervisor/httpagent.conf.in
const AGENT = 'httpagent:httpagent-agent';

let dir: string;
let sup: PrivateSupervisord;
let smtp: PrivateSmtp;
let agentPort: number;
let redis: PrivateRedis;
let ctl: Running;
const AGENT_ID = 'supervised-agent';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'httpagent-ops-'));
  smtp = await startSmtp();
  redis = await startRedis();
  ctl = await startController(redis.url, { longPollMs: 1000 });
  agentPort = await freePort();
  const prefix = join(dir, 'prefix');
  makeFakePrefix(prefix);
  const config = join(dir, 'httpagent.json');
  writeFileSync(
    config,
    JSON.stringify({
      agentId: AGENT_ID,
      controllerUrl: ctl.url,
      agentToken: AGENT_TOKEN,
      platformToken: PLATFORM_TOKEN,
      listen: `127.0.0.1:${agentPort}`,
      stateDir: join(dir, 'state'),
      drainGraceSec: 5,
      smtpUrl: smtp.url,
      alertTo: ['ops@example.test'],
    }),
    { mode: 0o600 },
  );
  const programs = renderTemplate('supervisor/httpagent.conf.in', {
    NODE: `${process.execPath} --import ${tsxLoader}`,
    PREFIX: prefix,
    CODE_ROOT: prefix,
    CONFIG: config,
    USER_LINE: '',
    STOP_WAIT_SEC: '40',
    LOG_DIR: dir,
    HOME: dir,
  }).replace(/environment=HOME="([^"]*)",NODE_ENV="production"/g, `environment=HOME="$1",NODE_ENV="production",OPS_TEST_FAKE="monitor"`);
  writeFileSync(join(dir, 'httpagent.conf'), programs);
  // A program that can never stay up: it must end FATAL and trigger the listener's mail.
  writeFileSync(
    join(dir, 'broken.conf'),
    `[program:always-fails]\ncommand=/bin/sh -c "exit 3"\nautostart=true\nautorestart=true\nstartsecs=1\nstartretries=1\n` +
      // One of ours (its name starts with httpagent) that fails until the flag file exists: the watchdog's to
      // start. Not started before its test, so the other watchdog tests see a healthy supervisord.
      `[program:httpagent-flaky]\ncommand=/bin/sh -c "test -f ${join(dir, 'flaky-ok')} && exec sleep 600; exit 3"\nautostart=false\nautorestart=true\nstartsecs=1\nstartretries=1\n`,
  );
  sup = await startSupervisord(join(dir, 'sup'), [join(dir, 'httpagent.conf'), join(dir, 'broken.conf')]);
});

afterAll(async () => {
  await sup?.shutdown();
  await smtp?.close();
  await ctl?.close();
  await redis?.stop();
  if (!process.env.KEEP_OPS_TMP) rmSync(dir, { recursive: true, force: true });
});

async function programPid(name: string): Promise<number> {
  const r = await sup.ctl('pid', name);
  return Number(r.out.trim());
}

describe('supervisord programs', () => {
  it('restarts the agent after kill -9 within startsecs + 2 s', async () => {
    await waitUntil(async () => (await sup.state(AGENT)) === 'RUNNING', 30_000, 'agent RUNNING');
    const before = await programPid(AGENT);
    expect(before).toBeGreaterThan(0);
    process.kill(before, 'SIGKILL');
    // The restart is immediate; RUNNING is reported once the new process has lived startsecs.
    await waitUntil(
      async () => (await sup.state(AGENT)) === 'RUNNING' && (await programPid(AGENT)) !== before,
      (STARTSECS + 2) * 1000,
      'agent RUNNING again',
    );
  });

  it('is registered again and claims jobs after the restart', async () => {
    const registeredAt = async () => {
      const agents = (await call<{ id: string; state: string; registeredAt: string }[]>(ctl.url, 'GET', '/v1/agents')).body;
      const me = agents.find((a) => a.id === AGENT_ID);
      return me?.state === 'online' ? Date.parse(me.registeredAt) : 0;
    };
    await waitUntil(async () => (await registeredAt()) > 0, 30_000, 'agent online');
    const first = await registeredAt();
    process.kill(await programPid(AGENT), 'SIGKILL');
    await waitUntil(async () => (await registeredAt()) > first, 30_000, 'agent registered again');
    const { id } = (await call(ctl.url, 'POST', '/v1/jobs', { body: { task: 'noop', agent: AGENT_ID } })).body as { id: string };
    await waitUntil(async () => (await call(ctl.url, 'GET', `/v1/jobs/${id}`)).body.state === 'succeeded', 30_000, 'job run by the restarted agent');
    const health = await request(`http://127.0.0.1:${agentPort}/healthz`);
    expect(health.statusCode).toBe(200);
    await health.body.dump();
  });

  it('mails an alert through the FATAL listener when a program keeps failing', async () => {
    await waitUntil(async () => (await sup.state('always-fails')) === 'FATAL', 30_000, 'always-fails FATAL');
    const mail = await smtp.waitFor(/always-fails is FATAL/);
    expect(mail).toMatch(/To: ops@example\.test/);
    expect(mail).toContain('supervisorctl start always-fails:always-fails');
    // A FATAL program makes status exit 3: "reachable", so the watchdog must leave it alone.
    expect((await sup.ctl('status')).code).toBe(3);
  });
});

describe('watchdog', () => {
  const watchdog = join(repoRoot, 'supervisor/watchdog.sh');
  const runWatchdog = async (stateDir = join(dir, 'watchdog-state')) => {
    try {
      const r = await run(watchdog, ['-c', sup.conf, '-l', join(dir, 'watchdog.lock'), '-s', stateDir, '-k', join(dir, 'prefix/current/dist/src/bin/httpagent.js'), '-t', '15']);
      return { code: 0, out: r.stdout + r.stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, out: e.stdout + e.stderr };
    }
  };

  it('does nothing while supervisord is healthy', async () => {
    const pid = sup.pid();
    const r = await runWatchdog();
    expect(r.code).toBe(0);
    expect(r.out).not.toMatch(/restarting/);
    expect(sup.pid()).toBe(pid);
  });

  it('leaves at once while another run holds the lock', async () => {
    const holder = execFile('flock', [join(dir, 'watchdog.lock'), 'sleep', '1.5']);
    const done = new Promise((r) => holder.once('exit', r));
    await new Promise((r) => setTimeout(r, 300));
    const r = await runWatchdog();
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/another watchdog run holds/);
    await done;
  });

  it('starts a FATAL httpagent program, at most once per program every 10 minutes, and leaves others alone', async () => {
    const state = join(dir, 'watchdog-fatal-state');
    await sup.ctl('start', 'httpagent-flaky');
    await waitUntil(async () => (await sup.state('httpagent-flaky')) === 'FATAL', 30_000, 'httpagent-flaky FATAL');
    writeFileSync(join(dir, 'flaky-ok'), '');
    const first = await runWatchdog(state);
    expect(first.code, first.out).toBe(0);
    expect(first.out).toMatch(/httpagent-flaky is FATAL; starting it/);
    expect(first.out).not.toMatch(/always-fails/);
    await waitUntil(async () => (await sup.state('httpagent-flaky')) === 'RUNNING', 15_000, 'httpagent-flaky RUNNING');
    expect(await sup.state('always-fails')).toBe('FATAL');

    // It fails again at once: the next run within the interval only says so. FATAL is final for
    // supervisord, so the state read right after the run shows the watchdog did not start it.
    unlinkSync(join(dir, 'flaky-ok'));
    process.kill(await programPid('httpagent-flaky'), 'SIGKILL');
    await waitUntil(async () => (await sup.state('httpagent-flaky')) === 'FATAL', 30_000, 'httpagent-flaky FATAL again');
    writeFileSync(join(dir, 'flaky-ok'), '');
    const second = await runWatchdog(state);
    expect(second.code, second.out).toBe(0);
    expect(second.out).toMatch(/httpagent-flaky is FATAL again; started \d+s ago, next try after 600s/);
    expect(await sup.state('httpagent-flaky')).toBe('FATAL');
  });

  it('revives a killed supervisord', async () => {
    const old = sup.pid();
    const programs = [await programPid(AGENT), await programPid('httpagent:httpagent-monitor')];
    process.kill(old, 'SIGKILL');
    await waitUntil(() => !alive(old), 10_000, 'supervisord dead');
    expect((await sup.ctl('status')).code).toBe(4);
    // Its programs live on, orphaned: the watchdog stops them before starting a new supervisord.
    expect(programs.every((p) => p > 0 && alive(p))).toBe(true);

    const r = await runWatchdog();
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/restarting it/);
    expect(r.out).toMatch(/stopping programs left by the dead supervisord/);
    expect(programs.filter((p) => alive(p))).toEqual([]);
    expect(sup.pid()).not.toBe(old);
    await waitUntil(async () => (await sup.state(AGENT)) === 'RUNNING', 30_000, 'agent RUNNING under the new supervisord');
  });
});
