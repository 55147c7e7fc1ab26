// The whole chain with the real agent: install.sh installs this checkout into a prefix, a private
// supervisord runs it against a real controller, jobs keep flowing, a commit is pushed to the bare
// repo the agent follows, and the agent builds it, switches and comes back on that commit with no job
// failed or lost. The first release is the code under test named for the checkout's HEAD
// (quick-release.ts); the agent's own build of the pushed commit is real (npm ci offline, the whole
// build, prune): the one real release build in the suite. One test: it is slow.
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startJobFeeder } from './job-feeder.js';
import { readUpdateState, updateStatePath } from '../../src/ops/update-state.js';
import { offlineNpmEnv, runNpmCache } from '../helpers/offline-npm.js';
import { freePort } from '../helpers/ports.js';
import { seedHeadRelease } from '../helpers/quick-release.js';
import { repoRoot } from '../helpers/processes.js';
import { asRoot, TEST_TASK_USER } from '../helpers/task-user.js';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { ENROLL_TOKEN, call, startController, type Running } from './controller-harness.js';
import { WaitAbort, waitUntil } from '../helpers/wait.js';
import { fileTail, startSupervisord, type PrivateSupervisord } from './ops-helpers.js';

const run = promisify(execFile);
const AGENT_ID = 'updating-agent';

let dir: string;
let redis: PrivateRedis;
let ctl: Running;
let sup: PrivateSupervisord | undefined;
let port: number;
let work: string;
let stateDir: string;
let npmEnv: Record<string, string>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'httpagent-realupdate-'));
  // A root agent runs the task as its task user, which must reach tasks/ inside dir.
  chmodSync(dir, 0o755);
  redis = await startRedis();
  ctl = await startController(redis.url, { longPollMs: 1000 });
  port = await freePort();
  stateDir = join(dir, 'state');
  // The remote the agent follows: this checkout's committed HEAD as branch main.
  const remote = join(dir, 'remote.git');
  await run('git', ['init', '-q', '--bare', '-b', 'main', remote]);
  await run('git', ['-C', repoRoot, 'push', '-q', remote, 'HEAD:refs/heads/main']);
  work = join(dir, 'work');
  await run('git', ['clone', '-q', remote, work]);
  await run('git', ['-C', work, 'config', 'user.email', 'ops@example.test']);
  await run('git', ['-C', work, 'config', 'user.name', 'ops test']);

  const prefix = join(dir, 'prefix');
  // The remote's main is the checkout's HEAD: install.sh names its release the same and finds it built.
  await seedHeadRelease(prefix);
  // Builds (install.sh's, should it build, and the agent's self-update) run npm ci from the run's cache only.
  npmEnv = offlineNpmEnv(await runNpmCache());
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', HTTPAGENT_ENROLL_TOKEN: ENROLL_TOKEN, ...npmEnv };
  await run(join(repoRoot, 'install.sh'), ['--prefix', prefix, '--no-service', '--source', work], { env, timeout: 240_000 });

  const tasks = join(dir, 'tasks');
  mkdirSync(tasks);
  writeFileSync(join(tasks, 'work'), '#!/bin/sh\necho working\nsleep 1\necho done\n');
  chmodSync(join(tasks, 'work'), 0o755);
  const config = join(dir, 'agent.json');
  // The agent enrolls with it on its first start and deletes it.
  writeFileSync(join(dir, 'enroll-token'), ENROLL_TOKEN, { mode: 0o600 });
  writeFileSync(
    config,
    JSON.stringify({
      agentId: AGENT_ID,
      controllerUrl: ctl.url,
      enrollTokenFile: join(dir, 'enroll-token'),
      listen: `127.0.0.1:${port}`,
      stateDir,
      tasksDir: tasks,
      drainGraceSec: 20,
      updateRemote: remote,
      updateBranch: 'main',
      updateCron: '*/2 * * * * *',
      updateSplaySec: 0,
      updateDeadlineSec: 90,
      updatePrefix: prefix,
      ...(asRoot ? { taskUser: TEST_TASK_USER } : {}),
    }),
    { mode: 0o600 },
  );
  writeFileSync(
    join(dir, 'agent.conf'),
    `[program:agent]\ncommand=${process.execPath} ${prefix}/current/dist/src/bin/httpagent.js agent --config ${config}\n` +
      `autorestart=true\nstartsecs=2\nstartretries=5\nstopsignal=TERM\nstopwaitsecs=40\nstopasgroup=true\nkillasgroup=true\n` +
      `redirect_stderr=true\nstdout_logfile=${join(dir, 'agent.log')}\n` +
      `environment=${Object.entries(npmEnv).map(([k, v]) => `${k}="${v}"`).join(',')}\n`,
  );
  sup = await startSupervisord(join(dir, 'sup'), [join(dir, 'agent.conf')]);
}, 120_000);

afterAll(async () => {
  await sup?.shutdown();
  await ctl?.close();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The commit on the agent's full /healthz, read with a port token the controller mints for it. */
async function healthCommit(): Promise<string | undefined> {
  try {
    const token = (await call(ctl.url, 'POST', `/v1/agents/${AGENT_ID}/token`, { body: {} })).body.token as string;
    const res = await request(`http://127.0.0.1:${port}/healthz`, { headers: { authorization: `Bearer ${token}` } });
    return ((await res.body.json()) as { commit?: string }).commit ?? undefined;
  } catch {
    return undefined;
  }
}

/** What a failure message needs to be diagnosed afterwards: update state, the guard's and supervisor's logs, the agent's updater lines and last lines. */
function explain(): string {
  const agentLog = join(dir, 'agent.log');
  let updaterLines = '';
  try {
    updaterLines = readFileSync(agentLog, 'utf8').split('\n').filter((l) => /self-update|"agent state"|listening|exiting/.test(l)).slice(-15).join('\n');
  } catch {
    // fileTail below says the log is missing
  }
  return [
    `--- update state: ${JSON.stringify(readUpdateState(updateStatePath(stateDir)))}`,
    fileTail(join(stateDir, 'update', 'guard.log')),
    fileTail(join(dir, 'sup', 'supervisord.log'), 20),
    `--- ${agentLog} (self-update lines)\n${updaterLines}`,
    fileTail(agentLog, 30),
  ].join('\n');
}

describe('self-update of the real agent', () => {
  it('comes back on a pushed commit with every job through the update succeeded', async () => {
    const before = (await run('git', ['-C', work, 'rev-parse', 'HEAD'])).stdout.trim();
    await waitUntil('installed release serving', async () => (await healthCommit()) === before, { timeoutMs: 60_000, explain });

    const feeder = startJobFeeder(ctl.url, AGENT_ID);
    const ids = feeder.ids;

    try {
      await run('git', ['-C', work, 'commit', '-q', '--allow-empty', '-m', 'an update to roll out']);
      await run('git', ['-C', work, 'push', '-q', 'origin', 'HEAD:main']);
      const next = (await run('git', ['-C', work, 'rev-parse', 'HEAD'])).stdout.trim();
      const pushedAt = Date.now();

      await waitUntil(
        'agent on the pushed commit',
        async () => {
          // A rollback or a failed build is final for this commit: say so now rather than at the timeout.
          const failed = readUpdateState(updateStatePath(stateDir)).failed;
          if (failed?.commit === next) throw new WaitAbort(`the update to the pushed commit failed (${failed.reason})\n${explain()}`);
          return (await healthCommit()) === next;
        },
        // The agent's build is real (npm ci, tsc, the entry bundles, Vite, prune): beside stress-ng and another
        // suite it took 134 s for npm ci and 95 s for the build, and its self-test started at 238 s of 240.
        { timeoutMs: 480_000, explain },
      );
      await waitUntil('guard confirmed', () => readUpdateState(updateStatePath(stateDir)).confirmed === next, { timeoutMs: 60_000, explain });
      process.stdout.write(`self-update: pushed commit running after ${((Date.now() - pushedAt) / 1000).toFixed(1)} s\n`);
      // A few jobs on the new release too: two submitted from now on have succeeded.
      const fromNow = ids.length;
      await waitUntil(
        'two jobs run by the new release',
        async () => {
          const later = ids.slice(fromNow);
          if (later.length < 2) return false;
          const states = await Promise.all(later.map(async (id) => (await call(ctl.url, 'GET', `/v1/jobs/${id}`)).body.state as string));
          return states.filter((st) => st === 'succeeded').length >= 2;
        },
        { timeoutMs: 60_000, explain },
      );
    } finally {
      await feeder.stop();
    }

    const states = await feeder.allFinal(explain);
    expect(feeder.submitErrors).toEqual([]);
    expect(ids.length).toBeGreaterThan(3);
    expect(states.filter((s) => s !== 'succeeded')).toEqual([]);
  }, 660_000);
});
