// Scheduled tasks against a real controller (private Redis): the scheduler's own guarantees in
// process (idempotent fire, no overlap, one catch-up), then a real agent process firing every
// second, restarted with kill -9 in between, and the jobs it queued read back from the controller.
// Runs are queued and read through the agent API with the agent's own credential (POST and GET
// /v1/agent/jobs): an agent holds no platform token.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentConfigSchema } from '../../src/shared/config/agent-config.js';
import { silentLogger } from '../../src/shared/log.js';
import type { JobSubmit } from '../../src/shared/protocol/job.js';
import { createScheduler } from '../../src/agent/schedule/scheduler.js';
import { scheduleKey } from '../../src/shared/protocol/schedule-key.js';
import { scheduleStatePath, writeScheduleState } from '../../src/agent/schedule/schedule-state.js';
import { freePort } from '../helpers/ports.js';
import { spawnHttpagent, type Spawned } from '../helpers/processes.js';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { waitUntil } from '../helpers/wait.js';
import { TEST_ENROLL_TOKEN } from '../helpers/identity.js';
import { call, credentialFor, startController, type Running } from './controller-harness.js';

let redis: PrivateRedis;
let ctl: Running;
let dir: string;

beforeAll(async () => {
  redis = await startRedis();
  ctl = await startController(redis.url, { longPollMs: 1000 });
  dir = mkdtempSync(join(tmpdir(), 'httpagent-sched-'));
  // A root agent runs the task as its task user, which must reach tasks/ inside dir.
  chmodSync(dir, 0o755);
});

afterAll(async () => {
  await ctl?.close();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface JobRow {
  id: string;
  state: string;
  idempotencyKey: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

/**
 * The runs `agentId` queued for itself under keys starting `prefix`: the controller files an agent's
 * keys apart from the platform's (agent:<id>:<key>), so only the agent route can have made these.
 */
async function jobsWithPrefix(agentId: string, prefix: string): Promise<JobRow[]> {
  const r = await call<JobRow[]>(ctl.url, 'GET', '/v1/jobs?limit=1000');
  return r.body.filter((j) => j.idempotencyKey?.startsWith(`agent:${agentId}:${prefix}`));
}

/** The scheduler's deps over real HTTP, as run-agent builds them: the agent API with `agentId`'s credential. */
function controllerDeps(agentId: string) {
  const asAgent = async (method: string, path: string, body?: unknown) => {
    const r = await call(ctl.url, method, path, { body, token: await credentialFor(ctl.url, agentId) });
    if (r.status >= 300) throw Object.assign(new Error(r.text), { code: r.body.error.code, statusCode: r.status });
    return r.body;
  };
  return {
    logger: silentLogger(),
    submitJob: async (job: JobSubmit) => (await asAgent('POST', '/v1/agent/jobs', job)) as { id: string; state: string },
    getJob: async (id: string) => (await asAgent('GET', `/v1/agent/jobs/${id}`)) as { state: string },
  };
}

function unitConfig(agentId: string, extra: Record<string, unknown> = {}) {
  return agentConfigSchema.parse({
    agentId,
    stateDir: join(dir, agentId),
    schedules: [{ name: 'collect', cron: '*/5 * * * * *', task: 'noop', params: { what: 'logs' } }],
    ...extra,
  });
}

describe('scheduler (in process, real controller)', () => {
  it('maps a fire time to one job, even from a restarted scheduler', async () => {
    const config = unitConfig('unit-a');
    const at = new Date('2030-01-01T00:00:05.000Z');
    const first = createScheduler(config, controllerDeps('unit-a'));
    const a = await first.fire('collect', at);
    await first.stop();
    expect(a).toMatchObject({ kind: 'queued', key: scheduleKey('unit-a', 'collect', at) });
    // A fresh scheduler (the agent restarted) with no memory of that run: same key, same job.
    rmSync(join(dir, 'unit-a'), { recursive: true, force: true });
    const second = createScheduler(config, controllerDeps('unit-a'));
    const b = await second.fire('collect', at);
    await second.stop();
    expect(b.kind === 'queued' && a.kind === 'queued' && b.jobId === a.jobId).toBe(true);
    expect(await jobsWithPrefix('unit-a', 'sched:unit-a:')).toHaveLength(1);
  });

  it('skips a fire while the previous run of the schedule has not finished', async () => {
    const config = unitConfig('unit-b');
    const s = createScheduler(config, controllerDeps('unit-b'));
    const first = await s.fire('collect', new Date('2030-01-01T00:00:05.000Z'));
    // Nobody claims it, so it stays queued: the next fire must not add a second run.
    const next = await s.fire('collect', new Date('2030-01-01T00:00:10.000Z'));
    await s.stop();
    expect(first.kind).toBe('queued');
    expect(next).toEqual({ kind: 'busy', previousJobId: first.kind === 'queued' ? first.jobId : '' });
    expect(await jobsWithPrefix('unit-b', 'sched:unit-b:')).toHaveLength(1);
  });

  // Seen beside a loaded machine: the agent was SIGKILLed after the controller queued a run but before
  // the scheduler wrote its id down; the restarted agent saw only the older, finished run, queued the
  // next fire, and the two ran side by side (one started 2.4 s before the other finished).
  it('waits for a run whose submit it never saw answered (a crash or a lost reply in between)', async () => {
    const config = unitConfig('unit-e');
    const real = controllerDeps('unit-e');
    const t1 = new Date('2030-01-01T00:00:05.000Z');
    const crashing = createScheduler(config, {
      ...real,
      // The controller queues the run; the reply never reaches the scheduler.
      submitJob: async (job) => {
        await real.submitJob(job);
        throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      },
    });
    expect(await crashing.fire('collect', t1)).toEqual({ kind: 'failed', code: 'ECONNRESET' });
    await crashing.stop();
    const [orphan] = await jobsWithPrefix('unit-e', 'sched:unit-e:');
    expect(orphan?.idempotencyKey).toBe(`agent:unit-e:${scheduleKey('unit-e', 'collect', t1)}`);

    // The restarted scheduler learns that run from its key and waits for it; nobody claims it.
    const restarted = createScheduler(config, real);
    const next = await restarted.fire('collect', new Date('2030-01-01T00:00:10.000Z'));
    await restarted.stop();
    expect(next).toEqual({ kind: 'busy', previousJobId: orphan!.id });
    expect(await jobsWithPrefix('unit-e', 'sched:unit-e:')).toHaveLength(1);
  });

  it('forgets a fire the controller refused: the next fire is queued', async () => {
    const config = unitConfig('unit-f');
    const real = controllerDeps('unit-f');
    const refusing = createScheduler(config, {
      ...real,
      submitJob: async (job) => real.submitJob({ ...job, timeoutSec: -1 }),
    });
    const refusal = await refusing.fire('collect', new Date('2030-01-01T00:00:05.000Z'));
    await refusing.stop();
    expect(refusal).toEqual({ kind: 'failed', code: 'BAD_REQUEST' });
    const s = createScheduler(config, real);
    const next = await s.fire('collect', new Date('2030-01-01T00:00:10.000Z'));
    await s.stop();
    expect(next).toMatchObject({ kind: 'queued', key: scheduleKey('unit-f', 'collect', new Date('2030-01-01T00:00:10.000Z')) });
    expect(await jobsWithPrefix('unit-f', 'sched:unit-f:')).toHaveLength(1);
  });

  it('runs one catch-up for fires missed while down, never a backlog', async () => {
    for (const catchUp of [true, false]) {
      const agentId = catchUp ? 'unit-c' : 'unit-d';
      const config = unitConfig(agentId, { scheduleCatchUp: catchUp });
      // The last run was an hour ago: 720 fire times of */5 s were missed.
      writeScheduleState(scheduleStatePath(config.stateDir), { collect: { lastFire: new Date(Date.now() - 3600_000).toISOString() } });
      const s = createScheduler(config, controllerDeps(agentId));
      await s.start();
      await s.stop();
      const jobs = await jobsWithPrefix(agentId, `sched:${agentId}:`);
      expect(jobs).toHaveLength(catchUp ? 1 : 0);
    }
  });
});

describe('a real agent firing every second', () => {
  let agent: Spawned | undefined;
  let env: Record<string, string>;

  beforeAll(async () => {
    const tasks = join(dir, 'tasks');
    mkdirSync(tasks);
    // Longer than the schedule's period, so runs would overlap if the scheduler let them.
    writeFileSync(join(tasks, 'tick'), '#!/bin/sh\necho "tick $HTTPAGENT_PARAM_N start"\nsleep 1.5\necho "tick done"\n');
    chmodSync(join(tasks, 'tick'), 0o755);
    // Enrolls on the first start (and deletes the file); the restart keeps its credential.
    writeFileSync(join(dir, 'enroll-token'), TEST_ENROLL_TOKEN, { mode: 0o600 });
    env = {
      HTTPAGENT_AGENT_ID: 'sched-agent',
      HTTPAGENT_CONTROLLER_URL: ctl.url,
      HTTPAGENT_ENROLL_TOKEN_FILE: join(dir, 'enroll-token'),
      HTTPAGENT_LISTEN: `127.0.0.1:${await freePort()}`,
      HTTPAGENT_TASKS_DIR: tasks,
      HTTPAGENT_STATE_DIR: join(dir, 'agent-state'),
      HTTPAGENT_LEASE_MS: '2000',
      HTTPAGENT_DRAIN_GRACE_SEC: '5',
      HTTPAGENT_SCHEDULES: JSON.stringify([{ name: 'tick', cron: '* * * * * *', task: 'tick', params: { n: '1' } }]),
    };
  });

  afterAll(async () => {
    await agent?.kill('SIGKILL');
  });

  it('queues one job per fire time, never overlapping, logs kept, not doubled by a restart', async () => {
    const succeeded = async () => (await jobsWithPrefix('sched-agent', 'sched:sched-agent:tick:')).filter((j) => j.state === 'succeeded').length;
    agent = spawnHttpagent(['agent'], env);
    await agent.waitFor(/scheduler started/);
    // Two finished runs: the fires in between found the first one busy.
    await waitUntil('two finished runs', async () => (await succeeded()) >= 2);
    // A crash: the state file may be behind the controller; the idempotency key absorbs it.
    await agent.kill('SIGKILL');
    const before = await succeeded();
    agent = spawnHttpagent(['agent'], env);
    await agent.waitFor(/scheduler started/);
    // Two more finished runs by the restarted agent (the run cut by the kill ends by lease expiry).
    await waitUntil('two more finished runs after the restart', async () => (await succeeded()) >= before + 2);
    expect(await agent.kill('SIGTERM')).toBe(0);

    const jobs = await jobsWithPrefix('sched-agent', 'sched:sched-agent:tick:');
    expect(jobs.length).toBeGreaterThanOrEqual(3);
    const keys = new Set(jobs.map((j) => j.idempotencyKey));
    expect(keys.size).toBe(jobs.length);
    // Each run started after the previous one finished (a run cut by the kill finished by lease expiry).
    const runs = jobs.filter((j) => j.startedAt).sort((x, y) => Date.parse(x.startedAt!) - Date.parse(y.startedAt!));
    for (let i = 1; i < runs.length; i++) {
      const prev = runs[i - 1]!;
      expect(prev.finishedAt).not.toBeNull();
      expect(Date.parse(runs[i]!.startedAt!)).toBeGreaterThanOrEqual(Date.parse(prev.finishedAt!));
    }
    const done = jobs.find((j) => j.state === 'succeeded')!;
    const log = await call(ctl.url, 'GET', `/v1/jobs/${done.id}/log`);
    expect(log.text).toContain('tick 1 start');
    expect(log.text).toContain('tick done');
  });
});
