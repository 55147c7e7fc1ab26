// Self-update end to end on real parts: a local bare git repo, real npm install/build in a staging
// dir, the real `current` symlink switch, a private supervisord restarting the agent, and the real
// update guard (a detached process) checking /healthz and rolling back. The "agent" in the repo is a
// tiny program with the release layout, so each build takes a second instead of minutes.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentConfigSchema, type AgentConfig } from '../../src/shared/config/agent-config.js';
import { silentLogger } from '../../src/shared/log.js';
import { DEFAULT_BUILD_STEPS, fetchHead, prepareRelease, releaseName } from '../../src/ops/release-builder.js';
import { currentRelease, releaseCommit, releaseLayout, switchCurrent } from '../../src/ops/release-layout.js';
import { createSelfUpdater, type JobActivity } from '../../src/ops/self-updater.js';
import { readUpdateState, updateStatePath } from '../../src/ops/update-state.js';
import { freePort } from '../helpers/ports.js';
import { binTs } from '../helpers/processes.js';
import { startSmtp, startSupervisord, tsxLoader, waitUntil, type PrivateSmtp, type PrivateSupervisord } from './ops-helpers.js';

const git = promisify(execFile);

const FAKE_AGENT = `#!/usr/bin/env node
// A stand-in agent with the release layout: --version, agent --self-test, agent (serves /healthz).
import { createServer } from 'node:http';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const [cmd, flag] = process.argv.slice(2);
if (cmd === '--version') { console.log('0.0.1'); process.exit(0); }
if (cmd === 'agent' && flag === '--self-test') process.exit(existsSync(join(root, 'SELFTEST_FAIL')) ? 1 : 0);
if (cmd === 'monitor') {
  writeFileSync(process.env.OPS_TEST_MONITOR_FILE, readFileSync(join(root, 'COMMIT'), 'utf8'));
  setInterval(() => {}, 60_000);
  process.on('SIGTERM', () => process.exit(0));
} else {
const commit = existsSync(join(root, 'UNHEALTHY')) ? 'not-the-new-commit' : readFileSync(join(root, 'COMMIT'), 'utf8').trim();
createServer((req, res) => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ status: 'ok', version: '0.0.1', commit })); })
  .listen(Number(process.env.OPS_TEST_AGENT_PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
}
`;

let dir: string;
let remote: string;
let work: string;
let prefix: string;
let sup: PrivateSupervisord;
let smtp: PrivateSmtp;
let port: number;
let config: AgentConfig;
let configFile: string;
const exits: string[] = [];
const alerts: string[] = [];
let runningJobs = 0;
let resumed = 0;

const jobs: JobActivity = {
  running: () => runningJobs,
  pause: async () => undefined,
  resume: () => void resumed++,
};

async function commit(message: string, files: Record<string, string | null> = {}): Promise<string> {
  for (const [name, text] of Object.entries(files)) {
    const p = join(work, name);
    if (text === null) unlinkSync(p);
    else writeFileSync(p, text);
  }
  await git('git', ['-C', work, 'add', '-A']);
  await git('git', ['-C', work, 'commit', '-q', '--allow-empty', '-m', message]);
  await git('git', ['-C', work, 'push', '-q', 'origin', 'HEAD:main']);
  return (await git('git', ['-C', work, 'rev-parse', 'HEAD'])).stdout.trim();
}

async function healthCommit(): Promise<string | undefined> {
  try {
    const res = await request(`http://127.0.0.1:${port}/healthz`);
    return ((await res.body.json()) as { commit?: string }).commit;
  } catch {
    return undefined;
  }
}

function updater() {
  return createSelfUpdater(config, {
    logger: silentLogger(),
    jobs,
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
    configFile,
    alert: async (subject) => void alerts.push(subject),
    guardCommand: [process.execPath, '--import', tsxLoader, binTs, 'update-guard', '--poll-ms', '200'],
    // The agent's own exit, as run-agent does it: the supervisor starts `current` again.
    exit: (reason) => {
      exits.push(reason);
      void sup.ctl('signal', 'TERM', 'agent');
    },
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'httpagent-update-'));
  remote = join(dir, 'remote.git');
  work = join(dir, 'work');
  prefix = join(dir, 'prefix');
  port = await freePort();
  smtp = await startSmtp();
  await git('git', ['init', '-q', '--bare', '-b', 'main', remote]);
  await git('git', ['clone', '-q', remote, work]);
  await git('git', ['-C', work, 'config', 'user.email', 'ops@example.test']);
  await git('git', ['-C', work, 'config', 'user.name', 'ops test']);
  mkdirSync(join(work, 'src'));
  const first = await commit('first', {
    'package.json': JSON.stringify({ name: 'fake-agent', version: '0.0.1', type: 'module', scripts: { build: 'node build.mjs' } }),
    'package-lock.json': JSON.stringify({ name: 'fake-agent', version: '0.0.1', lockfileVersion: 3, requires: true, packages: { '': { name: 'fake-agent', version: '0.0.1' } } }),
    'build.mjs': "import { mkdirSync, copyFileSync } from 'node:fs';\nmkdirSync('dist/src/bin', { recursive: true });\ncopyFileSync('src/httpagent.js', 'dist/src/bin/httpagent.js');\n",
    'src/httpagent.js': FAKE_AGENT,
  });

  const stateDir = join(dir, 'state');
  configFile = join(dir, 'httpagent.yaml');
  const settings = {
    agentToken: 'test-agent-token-0123456789',
    platformToken: 'test-platform-token-0123456789',
    listen: `127.0.0.1:${port}`,
    stateDir,
    updateRemote: remote,
    updateBranch: 'main',
    updatePrefix: prefix,
    updateDeadlineSec: 5,
    smtpUrl: smtp.url,
    alertTo: ['ops@example.test'],
  };
  writeFileSync(configFile, JSON.stringify(settings), { mode: 0o600 });
  const { smtpUrl: _s, alertTo: _a, ...agentOnly } = settings;
  config = agentConfigSchema.parse(agentOnly);

  // The first release is installed the way install.sh does it: built in staging, then linked.
  const layout = releaseLayout(prefix);
  const cache = join(stateDir, 'update', 'repo.git');
  expect(await fetchHead(cache, remote, 'main')).toBe(first);
  const rel = await prepareRelease({ layout, cacheDir: cache, commit: first, buildSteps: DEFAULT_BUILD_STEPS, env: { PATH: process.env.PATH, HOME: process.env.HOME } });
  switchCurrent(layout, rel);

  writeFileSync(
    join(dir, 'agent.conf'),
    `[program:agent]\ncommand=${process.execPath} ${prefix}/current/dist/src/bin/httpagent.js agent\nautorestart=true\nstartsecs=1\nstartretries=3\nstopsignal=TERM\nstopasgroup=true\nenvironment=OPS_TEST_AGENT_PORT="${port}"\n` +
      `[program:monitor]\ncommand=${process.execPath} ${prefix}/current/dist/src/bin/httpagent.js monitor\nautorestart=true\nstartsecs=1\n` +
      `environment=OPS_TEST_MONITOR_FILE="${join(dir, 'monitor-commit')}"\n`,
  );
  sup = await startSupervisord(join(dir, 'sup'), [join(dir, 'agent.conf')]);
  await waitUntil(async () => (await healthCommit()) === first, 20_000, 'first release healthy');
});

afterAll(async () => {
  await sup?.shutdown();
  await smtp?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('self-update from a bare git repo', () => {
  it('is up to date on the installed commit', async () => {
    const out = await updater().checkNow();
    expect(out.kind).toBe('up-to-date');
  });

  it('puts the switch off while a job runs (idle mode), then comes back on the new commit', async () => {
    const next = await commit('second');
    runningJobs = 1;
    const deferred = await updater().checkNow();
    expect(deferred).toEqual({ kind: 'deferred', commit: next });
    expect(resumed).toBe(1);
    // Built and checked once; the next check reuses it instead of building again.
    expect(existsSync(join(prefix, 'releases', releaseName(next), '.release-ok'))).toBe(true);
    expect(releaseCommit(currentRelease(releaseLayout(prefix))!)).not.toBe(next);

    runningJobs = 0;
    const out = await updater().checkNow();
    expect(out).toEqual({ kind: 'switched', commit: next });
    expect(exits).toHaveLength(1);
    expect(releaseCommit(currentRelease(releaseLayout(prefix))!)).toBe(next);
    await waitUntil(async () => (await healthCommit()) === next, 20_000, 'agent on the new commit');
    // The guard confirms and clears the pending switch.
    await waitUntil(() => readUpdateState(updateStatePath(config.stateDir)).confirmed === next, 20_000, 'guard confirmed');
    expect(readUpdateState(updateStatePath(config.stateDir)).pending).toBeUndefined();
    // Once healthy, the monitor is restarted on the new release as well.
    await waitUntil(() => readFileSync(join(dir, 'monitor-commit'), 'utf8').trim() === next, 20_000, 'monitor on the new commit');
  });

  it('never switches to a commit that fails its self-test, and does not retry it', async () => {
    const before = currentRelease(releaseLayout(prefix));
    const bad = await commit('breaks the self-test', { SELFTEST_FAIL: 'x' });
    const out = await updater().checkNow();
    expect(out).toEqual({ kind: 'failed', commit: bad, code: 'UPDATE_SELF_TEST_FAILED' });
    expect(currentRelease(releaseLayout(prefix))).toBe(before);
    expect(existsSync(join(prefix, 'releases', releaseName(bad)))).toBe(false);
    expect(readUpdateState(updateStatePath(config.stateDir)).failed).toMatchObject({ commit: bad, reason: 'self-test' });
    expect(alerts.at(-1)).toMatch(/self-test/);
    expect(await updater().checkNow()).toEqual({ kind: 'known-bad', commit: bad });
    expect(exits).toHaveLength(1);
  });

  it('rolls back a commit that starts but is not healthy, mails, and does not retry it', async () => {
    const good = releaseCommit(currentRelease(releaseLayout(prefix))!)!;
    const bad = await commit('starts but reports the wrong commit', { SELFTEST_FAIL: null, UNHEALTHY: 'x' });
    expect(await updater().checkNow()).toEqual({ kind: 'switched', commit: bad });
    // The guard waits out the deadline (5 s), switches back and restarts the agent on the old release.
    await waitUntil(() => readUpdateState(updateStatePath(config.stateDir)).failed?.commit === bad, 30_000, 'rollback recorded');
    expect(readUpdateState(updateStatePath(config.stateDir)).failed?.reason).toBe('unhealthy');
    expect(releaseCommit(currentRelease(releaseLayout(prefix))!)).toBe(good);
    await waitUntil(async () => (await healthCommit()) === good, 20_000, 'agent back on the old commit');
    const mail = await smtp.waitFor(new RegExp(`update to ${releaseName(bad)} rolled back`));
    expect(mail).toMatch(/To: ops@example\.test/);
    expect(await updater().checkNow()).toEqual({ kind: 'known-bad', commit: bad });
  });

  it('tries again once a newer commit arrives', async () => {
    const fixed = await commit('fixed', { UNHEALTHY: null });
    expect(await updater().checkNow()).toEqual({ kind: 'switched', commit: fixed });
    await waitUntil(async () => (await healthCommit()) === fixed, 20_000, 'agent on the fixed commit');
    await waitUntil(() => readUpdateState(updateStatePath(config.stateDir)).confirmed === fixed, 20_000, 'guard confirmed');
    expect(readFileSync(join(prefix, 'current', 'COMMIT'), 'utf8').trim()).toBe(fixed);
  });
});
