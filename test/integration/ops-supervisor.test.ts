// Process guarding against a real, private supervisord running the shipped program file
// (supervisor/httpagent.conf.in) with the real agent and a real controller: kill -9 recovery (running,
// registered and claiming again), FATAL → alert mail, and the cron watchdog (a dead supervisord, FATAL programs).
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { repoRoot, track } from '../helpers/processes.js';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { waitUntil } from '../helpers/wait.js';
import { ENROLL_TOKEN, call, startController, type Running } from './controller-harness.js';
import { asRoot, TEST_TASK_USER, tempDirTasksCanRead } from '../helpers/task-user.js';
import {
  alive,
  makeFakePrefix,
  renderTemplate,
  startSmtp,
  startSupervisord,
  type PrivateSmtp,
  type PrivateSupervisord,
} from './ops-helpers.js';

const run = promisify(execFile);
const AGENT = 'httpagent:httpagent-agent';

let dir: string;
let sup: PrivateSupervisord;
let smtp: PrivateSmtp;
let agentPort: number;
let redis: PrivateRedis;
let ctl: Running;
const AGENT_ID = 'supervised-agent';

beforeAll(async () => {
  dir = tempDirTasksCanRead('httpagent-ops-');
  smtp = await startSmtp();
  redis = await startRedis();
  ctl = await startController(redis.url, { longPollMs: 1000 });
  agentPort = await freePort();
  const prefix = join(dir, 'prefix');
  makeFakePrefix(prefix);
  const config = join(dir, 'httpagent.json');
  writeFileSync(join(dir, 'enroll-token'), ENROLL_TOKEN, { mode: 0o600 });
  writeFileSync(
    config,
    JSON.stringify({
      agentId: AGENT_ID,
      controllerUrl: ctl.url,
      enrollTokenFile: join(dir, 'enroll-token'),
      listen: `127.0.0.1:${agentPort}`,
      stateDir: join(dir, 'state'),
      drainGraceSec: 5,
      ...(asRoot ? { taskUser: TEST_TASK_USER } : {}),
      smtpUrl: smtp.url,
      alertTo: ['ops@example.test'],
    }),
    { mode: 0o600 },
  );
  const programs = renderTemplate('supervisor/httpagent.conf.in', {
    NODE: process.execPath,
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
  // Enrolled before any kill -9: one landing between the controller's enroll and the credential's write
  // would leave the id taken at the controller and the host without its credential.
  await waitUntil('the agent enrolled', () => existsSync(join(dir, 'state', 'credential')), { timeoutMs: 60_000 });
}, 120_000);

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
  it('restarts the agent after kill -9', async () => {
    await waitUntil('agent RUNNING', async () => (await sup.state(AGENT)) === 'RUNNING');
    const before = await programPid(AGENT);
    expect(before).toBeGreaterThan(0);
    process.kill(before, 'SIGKILL');
    // RUNNING again once a new process has lived startsecs; how soon is a figure for bench/, not a test.
    await waitUntil('agent RUNNING again', async () => (await sup.state(AGENT)) === 'RUNNING' && (await programPid(AGENT)) !== before);
    const log = readFileSync(join(dir, 'sup', 'supervisord.log'), 'utf8');
    expect(log).toMatch(/exited: httpagent-agent \(terminated by SIGKILL/);
  });

  it('is registered again and claims jobs after the restart', async () => {
    const registeredAt = async () => {
      const agents = (await call<{ id: string; state: string; registeredAt: string }[]>(ctl.url, 'GET', '/v1/agents')).body;
      const me = agents.find((a) => a.id === AGENT_ID);
      return me?.state === 'online' ? Date.parse(me.registeredAt) : 0;
    };
    await waitUntil('agent online', async () => (await registeredAt()) > 0);
    const first = await registeredAt();
    process.kill(await programPid(AGENT), 'SIGKILL');
    await waitUntil('agent registered again', async () => (await registeredAt()) > first);
    const { id } = (await call(ctl.url, 'POST', '/v1/jobs', { body: { task: 'noop', agent: AGENT_ID } })).body as { id: string };
    await waitUntil('job run by the restarted agent', async () => (await call(ctl.url, 'GET', `/v1/jobs/${id}`)).body.state === 'succeeded');
    const health = await request(`http://127.0.0.1:${agentPort}/healthz`);
    expect(health.statusCode).toBe(200);
    await health.body.dump();
  });

  it('mails an alert through the FATAL listener when a program keeps failing', async () => {
    await waitUntil('always-fails FATAL', async () => (await sup.state('always-fails')) === 'FATAL');
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
    // The holder says when it has the lock and keeps it until its stdin closes.
    const holder = track(spawn('flock', [join(dir, 'watchdog.lock'), 'sh', '-c', 'echo held; read _; exit 0'], { stdio: ['pipe', 'pipe', 'pipe'], detached: true }));
    try {
      await holder.waitFor(/held/);
      const r = await runWatchdog();
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/another watchdog run holds/);
    } finally {
      holder.proc.stdin!.end();
      expect(await holder.exited()).toBe(0);
    }
  });

  it('starts a FATAL httpagent program, at most once per program every 10 minutes, and leaves others alone', async () => {
    const state = join(dir, 'watchdog-fatal-state');
    await sup.ctl('start', 'httpagent-flaky');
    await waitUntil('httpagent-flaky FATAL', async () => (await sup.state('httpagent-flaky')) === 'FATAL');
    writeFileSync(join(dir, 'flaky-ok'), '');
    const first = await runWatchdog(state);
    expect(first.code, first.out).toBe(0);
    expect(first.out).toMatch(/httpagent-flaky is FATAL; starting it/);
    expect(first.out).not.toMatch(/always-fails/);
    await waitUntil('httpagent-flaky RUNNING', async () => (await sup.state('httpagent-flaky')) === 'RUNNING');
    expect(await sup.state('always-fails')).toBe('FATAL');

    // It fails again at once: the next run within the interval only says so. FATAL is final for
    // supervisord, so the state read right after the run shows the watchdog did not start it.
    unlinkSync(join(dir, 'flaky-ok'));
    process.kill(await programPid('httpagent-flaky'), 'SIGKILL');
    await waitUntil('httpagent-flaky FATAL again', async () => (await sup.state('httpagent-flaky')) === 'FATAL');
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
    await waitUntil('supervisord dead', () => !alive(old));
    expect((await sup.ctl('status')).code).toBe(4);
    // Its programs live on, orphaned: the watchdog stops them before starting a new supervisord.
    expect(programs.every((p) => p > 0 && alive(p))).toBe(true);

    const r = await runWatchdog();
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/restarting it/);
    expect(r.out).toMatch(/stopping programs left by the dead supervisord/);
    expect(programs.filter((p) => alive(p))).toEqual([]);
    expect(sup.pid()).not.toBe(old);
    await waitUntil('agent RUNNING under the new supervisord', async () => (await sup.state(AGENT)) === 'RUNNING');
  });
});
