// A failing scheduled task alerts someone, and a dead monitor shows in the fleet's metrics: real
// processes for redis, the controller, the agent (firing a schedule every 2 s) and the monitor, and a
// real SMTP sink. The schedule's task fails while a flag file exists ("the receiver answered 500").
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { describe, expect, it, onTestFinished } from 'vitest';
import { testSigningKeyFile, TEST_ENROLL_TOKEN } from '../helpers/identity.js';
import { freePort } from '../helpers/ports.js';
import { spawnHttpagent, type Spawned } from '../helpers/processes.js';
import { parsePromText, sampleOf } from '../helpers/prom-text.js';
import { startRedis } from '../helpers/redis-server.js';
import { startSmtpSink } from '../helpers/smtp-sink.js';
import { tempDirTasksCanRead } from '../helpers/task-user.js';
import { waitUntil } from '../helpers/wait.js';

const PLATFORM_TOKEN = 'platform-token-schedule-alerts-0123';
const AGENT_ID = 'sched-mon-1';

describe('alerts on scheduled runs', () => {
  it('one incident per failing schedule, recovery on the next success; a killed monitor shows lapsed', async () => {
    const dir = tempDirTasksCanRead('sched-alerts-');
    const [redis, smtp, ctlPort, agentPort] = await Promise.all([startRedis(), startSmtpSink(), freePort(), freePort()]);
    const procs: Spawned[] = [];
    onTestFinished(async () => {
      await Promise.all(procs.map((p) => p.kill('SIGKILL')));
      await Promise.all([redis.stop(), smtp.close()]);
      rmSync(dir, { recursive: true, force: true });
    });
    const ctlUrl = `http://127.0.0.1:${ctlPort}`;
    const controller = spawnHttpagent(['controller'], {
      HTTPAGENT_REDIS_URL: redis.url,
      HTTPAGENT_LISTEN: `127.0.0.1:${ctlPort}`,
      HTTPAGENT_ENROLL_TOKEN: TEST_ENROLL_TOKEN,
      HTTPAGENT_SIGNING_KEY_FILE: testSigningKeyFile(),
      HTTPAGENT_PLATFORM_TOKEN: PLATFORM_TOKEN,
    });
    procs.push(controller);
    await controller.waitFor(/controller listening/);

    const tasks = join(dir, 'tasks');
    mkdirSync(tasks);
    const flag = join(dir, 'receiver-down');
    writeFileSync(flag, '');
    writeFileSync(join(tasks, 'upload'), '#!/bin/sh\nif [ -e "$HTTPAGENT_PARAM_FLAG" ]; then echo "receiver answered 500" >&2; exit 1; fi\necho sent\n');
    chmodSync(join(tasks, 'upload'), 0o755);
    writeFileSync(join(dir, 'enroll-token'), TEST_ENROLL_TOKEN, { mode: 0o600 });
    const stateDir = join(dir, 'agent');
    // The agent and its monitor read the same settings, schedules included, as they do from one file.
    const shared = {
      HTTPAGENT_AGENT_ID: AGENT_ID,
      HTTPAGENT_LISTEN: `127.0.0.1:${agentPort}`,
      HTTPAGENT_CONTROLLER_URL: ctlUrl,
      HTTPAGENT_STATE_DIR: stateDir,
      HTTPAGENT_SCHEDULES: JSON.stringify([{ name: 'upload', cron: '*/2 * * * * *', task: 'upload', params: { flag } }]),
    };
    const agent = spawnHttpagent(['agent'], { ...shared, HTTPAGENT_TASKS_DIR: tasks, HTTPAGENT_ENROLL_TOKEN_FILE: join(dir, 'enroll-token') });
    procs.push(agent);
    await agent.waitFor(/scheduler started/);
    await waitUntil('the agent enrolled', async () => existsSync(join(stateDir, 'credential')));
    const monitor = spawnHttpagent(['monitor'], {
      ...shared,
      HTTPAGENT_METRICS_INTERVAL_SEC: '1',
      HTTPAGENT_CHECK_INTERVAL_SEC: '1',
      HTTPAGENT_CHECK_TIMEOUT_MS: '1000',
      HTTPAGENT_ALERT_REPEAT_SEC: '3600',
      HTTPAGENT_ALERT_GROUP_MS: '200',
      // thresholds out of reach: a busy shared test machine must not raise CPU alerts here
      HTTPAGENT_ALERT_CPU_PERCENT: '100',
      HTTPAGENT_ALERT_MEMORY_PERCENT: '100',
      HTTPAGENT_ALERT_DISK_PERCENT: '100',
      HTTPAGENT_SMTP_URL: smtp.url,
      HTTPAGENT_ALERT_TO: 'ops@example.test',
    });
    procs.push(monitor);
    await monitor.waitFor(/"msg":"alert state loaded"/);

    const platformGet = async (path: string) => {
      const res = await request(`${ctlUrl}${path}`, { headers: { authorization: `Bearer ${PLATFORM_TOKEN}` } });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`GET ${path}: ${res.statusCode} ${text}`);
      return text;
    };
    const fleet = async () => parsePromText(await platformGet('/metrics'));
    const runs = async (state: string) => sampleOf(await fleet(), 'httpagent_fleet_schedule_runs_total', { agent: AGENT_ID, schedule: 'upload', state }) ?? 0;
    const scheduleMails = () => smtp.mails.filter((m) => m.subject.includes('schedule:upload'));
    /** Resolves once the monitor has finished `n` more check rounds (each one heartbeats). */
    const checkRounds = async (n: number) => {
      const seenAt = async () => (JSON.parse(await platformGet('/v1/agents')) as Array<{ id: string; monitorSeenAt: string | null }>).find((a) => a.id === AGENT_ID)?.monitorSeenAt;
      const seen = new Set<string>();
      const first = await seenAt();
      await waitUntil(`${n} monitor check rounds`, async () => {
        const at = await seenAt();
        if (at && at !== first) seen.add(at);
        return seen.size >= n;
      });
    };

    const firing = await waitUntil('the FAILING mail', () => scheduleMails().find((m) => m.subject.includes('FAILING schedule:upload')));
    // The job's own error, and where to read its log (quoted-printable soft breaks undone).
    const body = firing.raw.replace(/=\r?\n/g, '');
    expect(body).toMatch(/schedule:upload: run (\S+) failed at \S+: step 1 \(upload\) exited with 1 \(httpagent job logs \1\)/);
    // More runs fail, and the monitor looks at each: still the one incident, no mail per failure.
    const failedBefore = await runs('failed');
    await waitUntil('two more failed runs', async () => (await runs('failed')) >= failedBefore + 2);
    await checkRounds(2);
    expect(scheduleMails().map((m) => m.subject)).toEqual([firing.subject]);
    expect(sampleOf(await fleet(), 'httpagent_fleet_schedule_last_run_failed', { agent: AGENT_ID, schedule: 'upload' })).toBe(1);

    // The receiver is back: the next run succeeds and the incident ends.
    rmSync(flag);
    const recovered = await waitUntil('the RECOVERED mail', () => scheduleMails().find((m) => m.subject.includes('RECOVERED schedule:upload')));
    expect(scheduleMails()).toHaveLength(2);
    expect(recovered.raw).toMatch(/schedule:upload: after/);
    expect(await runs('succeeded')).toBeGreaterThanOrEqual(1);
    expect(sampleOf(await fleet(), 'httpagent_fleet_schedule_last_run_failed', { agent: AGENT_ID, schedule: 'upload' })).toBe(0);

    // The monitor dies without a word: it cannot mail about itself, the controller's metrics say it.
    expect(sampleOf(await fleet(), 'httpagent_fleet_monitor_lapsed', { agent: AGENT_ID })).toBe(0);
    await monitor.kill('SIGKILL');
    const lapsed = await waitUntil('the monitor lapsed', async () => {
      const m = await fleet();
      return sampleOf(m, 'httpagent_fleet_monitor_lapsed', { agent: AGENT_ID }) === 1 ? m : undefined;
    });
    expect(sampleOf(lapsed, 'httpagent_fleet_monitors', { state: 'lapsed' })).toBe(1);
    expect(sampleOf(lapsed, 'httpagent_fleet_agent_up', { agent: AGENT_ID })).toBe(1);
  });
});
