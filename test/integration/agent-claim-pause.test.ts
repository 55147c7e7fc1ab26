// Pausing claims (what self-update in drain mode relies on), on a real controller over a private Redis
// and the real agent job loop in this process: a paused agent claims nothing, a pause waits for the
// claim in flight and lets its job run, resume claims again, and a paused agent still drains. Then
// self-update in drain mode with that agent: claims stay paused while the running job finishes, and an
// update abandoned after the pause lets the agent claim again.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentConfigSchema, type AgentConfig } from '../../src/shared/config/agent-config.js';
import { createControllerClient, type ControllerClient } from '../../src/agent/controller-client/index.js';
import { createAgent, type Agent } from '../../src/agent/jobs/agent.js';
import { silentLogger } from '../../src/shared/log.js';
import { createAgentMetrics } from '../../src/agent/agent-metrics.js';
import { sameUserTasks } from '../helpers/task-launcher.js';
import { jobActivityOf } from '../../src/bin/agent-operations.js';
import { fetchHead, prepareRelease } from '../../src/ops/release-builder.js';
import { currentRelease, releaseCommit, releaseLayout, switchCurrent } from '../../src/ops/release-layout.js';
import { createSelfUpdater } from '../../src/ops/self-updater.js';
import { updateStatePath, writeUpdateState } from '../../src/ops/update-state.js';
import { fixtureTasks } from '../helpers/job-system.js';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { inProcessIdentity } from '../helpers/agent-identity.js';
import { waitUntil } from '../helpers/wait.js';
import { call, startController, type Running } from './controller-harness.js';

let redis: PrivateRedis;
let ctl: Running;
let tmp: string;
const agents: Agent[] = [];

beforeAll(async () => {
  redis = await startRedis();
  ctl = await startController(redis.url, { leaseMs: 3000, longPollMs: 30_000 });
  tmp = mkdtempSync(join(tmpdir(), 'httpagent-pause-'));
});

afterAll(async () => {
  // The controller first: it answers open long-polls empty, so the agents' clients close at once.
  await ctl?.close();
  await Promise.all(agents.map((a) => a.stop()));
  await redis?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** A real agent whose claim calls are counted (started, and open right now) on their way to the controller. */
async function startAgent(agentId: string, claimWaitMs: number, extra: Partial<AgentConfig> = {}) {
  const config = agentConfigSchema.parse({ agentId, controllerUrl: ctl.url, stateDir: join(tmp, agentId), concurrency: 2, leaseMs: 3000, claimWaitMs, killGraceMs: 200, drainGraceSec: 5, ...extra });
  const { identity, portKeys } = await inProcessIdentity(config);
  const real = createControllerClient({ controllerUrl: ctl.url, credential: identity.bearer, connections: 8 });
  const claims = { started: 0, open: 0 };
  const client: ControllerClient = {
    ...real,
    claims: {
      async claim(req) {
        claims.started++;
        claims.open++;
        try {
          return await real.claims.claim(req);
        } finally {
          claims.open--;
        }
      },
    },
  };
  const agent = createAgent({ ...config, tasksDir: fixtureTasks }, { logger: silentLogger(), metrics: createAgentMetrics(), tasks: sameUserTasks(fixtureTasks), client, identity, portKeys });
  agents.push(agent);
  await agent.start();
  await agent.ready();
  return { agent, claims, config };
}

async function submit(job: unknown): Promise<string> {
  const r = await call(ctl.url, 'POST', '/v1/jobs', { body: job });
  expect(r.status).toBe(201);
  return r.body.id as string;
}
const jobState = async (id: string): Promise<string> => (await call(ctl.url, 'GET', `/v1/jobs/${id}`)).body.state;

const until = waitUntil;

describe('claim pause', () => {
  it('a paused agent claims nothing; after resume it claims the job queued meanwhile', async () => {
    const { agent, claims } = await startAgent('pause-idle', 500);
    await agent.pauseClaims();
    expect(agent.status().paused).toBe(true);
    const startedAtPause = claims.started;
    expect(claims.open).toBe(0);

    const id = await submit({ task: 'say', params: { text: 'later' }, agent: 'pause-idle' });
    // A barrier: a job queued after it, for another agent in this process, runs to the end. Its wake-up
    // went out after this job's, so an open or starting claim of the paused agent would have taken it by then.
    const { agent: witness } = await startAgent('pause-witness', 500);
    const after = await submit({ task: 'say', params: { text: 'after' }, agent: 'pause-witness' });
    await until('the later job to succeed', async () => (await jobState(after)) === 'succeeded');
    expect(await jobState(id)).toBe('queued');
    expect(claims.started).toBe(startedAtPause);
    await witness.drain();

    agent.resumeClaims();
    expect(agent.status().paused).toBe(false);
    await until('the job to succeed', async () => (await jobState(id)) === 'succeeded');
    expect((await call(ctl.url, 'GET', `/v1/jobs/${id}`)).body.agent).toBe('pause-idle');
  });

  it('a pause during a long-poll resolves after that claim returns, and the job it brought runs', async () => {
    // The long-poll stays open (no job, 20 s wait) until the job below arrives.
    const { agent, claims } = await startAgent('pause-poll', 20_000);
    await until('a claim in flight', () => claims.open === 1);
    let paused = false;
    const pausing = agent.pauseClaims().then(() => (paused = true));
    // A round trip to the controller later, the pause still waits and the long-poll is still open.
    await call(ctl.url, 'GET', '/v1/agents');
    expect(paused).toBe(false); // the open long-poll is waited for, not aborted
    expect(claims.open).toBe(1);

    const gate = join(tmp, 'pause-poll.open');
    const first = await submit({ task: 'gate', params: { open: gate }, agent: 'pause-poll' });
    await pausing;
    // Resolved only once the claim handed its job over: it counts as running already.
    expect(agent.runningJobs).toBe(1);
    expect(claims.open).toBe(0);
    const startedAtPause = claims.started;

    // Its result must not ask for more work either (complete-and-claim is a claim too).
    const second = await submit({ task: 'say', params: { text: 'second' }, agent: 'pause-poll' });
    writeFileSync(gate, '');
    await until('the first job to succeed', async () => (await jobState(first)) === 'succeeded');
    // Idle with nothing undelivered: the first job's complete has had its reply, and it brought no job.
    await until('the agent to be idle', () => agent.status().running === 0 && agent.status().undelivered === 0);
    expect(await jobState(second)).toBe('queued');
    expect(claims.started).toBe(startedAtPause);

    agent.resumeClaims();
    await until('the second job to succeed', async () => (await jobState(second)) === 'succeeded');
  });

  it('a paused agent still drains (its claim loop ends instead of waiting for a resume)', async () => {
    const { agent } = await startAgent('pause-drain', 500);
    await agent.pauseClaims();
    await agent.drain();
    expect(agent.state).toBe('stopped');
  });
});

const git = promisify(execFile);
// A release that passes `agent --self-test`: all the updater asks of it.
const RELEASE_ENTRY = '#!/usr/bin/env node\nprocess.exit(0);\n';

describe('self-update in drain mode', () => {
  let work: string;
  let prefix: string;
  let root: string;
  const env = { PATH: process.env.PATH, HOME: process.env.HOME };

  async function commit(message: string): Promise<string> {
    writeFileSync(join(work, 'NOTE'), message);
    await git('git', ['-C', work, 'add', '-A']);
    await git('git', ['-C', work, 'commit', '-q', '-m', message]);
    await git('git', ['-C', work, 'push', '-q', 'origin', 'HEAD:main']);
    return (await git('git', ['-C', work, 'rev-parse', 'HEAD'])).stdout.trim();
  }

  beforeAll(async () => {
    const remote = join(tmp, 'remote.git');
    work = join(tmp, 'work');
    prefix = join(tmp, 'prefix');
    await git('git', ['init', '-q', '--bare', '-b', 'main', remote]);
    await git('git', ['clone', '-q', remote, work]);
    await git('git', ['-C', work, 'config', 'user.email', 'ops@example.test']);
    await git('git', ['-C', work, 'config', 'user.name', 'ops test']);
    mkdirSync(join(work, 'dist/src/bin'), { recursive: true });
    writeFileSync(join(work, 'dist/src/bin/httpagent.js'), RELEASE_ENTRY);
    // A version the updater can read: a head without one is refused (it could be a downgrade).
    writeFileSync(join(work, 'package.json'), JSON.stringify({ name: 'claim-pause-fixture', version: '1.0.0' }));
    const first = await commit('first');
    const cache = join(tmp, 'install-cache.git');
    await fetchHead(cache, remote, 'main');
    root = await prepareRelease({ layout: releaseLayout(prefix), cacheDir: cache, commit: first, buildSteps: [], env });
    switchCurrent(releaseLayout(prefix), root);
  });

  async function setUp(agentId: string) {
    const remote = join(tmp, 'remote.git');
    const started = await startAgent(agentId, 500, { updateRemote: remote, updatePrefix: prefix, updateMode: 'drain', updateGuard: 'external' });
    const exits: string[] = [];
    const updater = createSelfUpdater(started.config, { logger: silentLogger(), jobs: jobActivityOf(started.agent), env, packageRoot: root, buildSteps: [], exit: (r) => void exits.push(r) });
    return { ...started, updater, exits, stateFile: updateStatePath(started.config.stateDir) };
  }

  it('pauses claims while the running job finishes, then switches; a job queued meanwhile is left for the next release', async () => {
    const { agent, claims, updater, exits } = await setUp('upd-drain');
    const gate = join(tmp, 'upd-drain.open');
    const running = await submit({ task: 'gate', params: { open: gate }, agent: 'upd-drain' });
    await until('the job to run', async () => agent.runningJobs === 1 && (await jobState(running)) === 'running');
    const before = currentRelease(releaseLayout(prefix));
    const next = await commit('second');
    const checking = updater.checkNow();
    // Paused, and the long-poll that was open then has returned (it would take a job, by design).
    await until('claims to pause', () => agent.status().paused && claims.open === 0);
    const later = await submit({ task: 'say', params: { text: 'later' }, agent: 'upd-drain' });
    // The job still runs (it waits for its gate), so the switch has not happened.
    expect(currentRelease(releaseLayout(prefix))).toBe(before);
    writeFileSync(gate, '');

    expect(await checking).toEqual({ kind: 'switched', commit: next });
    expect(exits).toHaveLength(1);
    expect(await jobState(running)).toBe('succeeded'); // the switch waited for it
    expect(await jobState(later)).toBe('queued'); // nothing was claimed while paused
    expect(releaseCommit(currentRelease(releaseLayout(prefix))!)).toBe(next);
    await updater.stop();
  });

  it('claims again when the update is abandoned by an error after the pause', async () => {
    const { agent, claims, updater, exits, stateFile } = await setUp('upd-error');
    writeUpdateState(stateFile, {}); // as if the guard had confirmed the last switch
    const before = currentRelease(releaseLayout(prefix));
    const gate = join(tmp, 'upd-error.open');
    const running = await submit({ task: 'gate', params: { open: gate }, agent: 'upd-error' });
    await until('the job to run', async () => agent.runningJobs === 1 && (await jobState(running)) === 'running');
    await commit('third');
    const checking = updater.checkNow();
    // Paused, and the long-poll that was open then has returned (it would take a job, by design).
    await until('claims to pause', () => agent.status().paused && claims.open === 0);
    const later = await submit({ task: 'say', params: { text: 'later' }, agent: 'upd-error' });
    // The state file cannot be written once the job is done (a directory in its place): the switch fails.
    rmSync(stateFile, { force: true });
    mkdirSync(stateFile);
    writeFileSync(gate, '');

    await expect(checking).rejects.toMatchObject({ code: 'EISDIR' });
    expect(exits).toHaveLength(0);
    expect(currentRelease(releaseLayout(prefix))).toBe(before);
    expect(agent.status().paused).toBe(false);
    await until('the job queued during the pause to succeed', async () => (await jobState(later)) === 'succeeded');
    await updater.stop();
  });
});
