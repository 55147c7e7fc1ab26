// Self-update end to end on real parts: a local bare git repo, real npm install/build in a staging
// dir, the real `current` symlink switch, a private supervisord restarting the agent, and the real
// update guard (a detached process) checking /healthz and rolling back. The "agent" in the repo is a
// tiny program with the release layout, so each build takes a second instead of minutes.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { agentConfigSchema, type AgentConfig } from '../../src/shared/config/agent-config.js';
import { silentLogger } from '../../src/shared/log.js';
import { DEFAULT_BUILD_STEPS, fetchHead, prepareRelease, releaseName } from '../../src/ops/release-builder.js';
import { currentRelease, releaseCommit, releaseLayout, switchCurrent } from '../../src/ops/release-layout.js';
import { createSelfUpdater, type JobActivity } from '../../src/ops/self-updater.js';
import { readUpdateState, updateStatePath } from '../../src/ops/update-state.js';
import { freePort } from '../helpers/ports.js';
import { offlineNpmEnv } from '../helpers/offline-npm.js';
import { binJs } from '../helpers/processes.js';
import { waitUntil } from '../helpers/wait.js';
import { fileTail, startSmtp, startSupervisord, type PrivateSmtp, type PrivateSupervisord } from './ops-helpers.js';

const git = promisify(execFile);
/** The updater's environment: its builds (npm ci of a package without dependencies) never reach for a registry. */
const buildEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ...offlineNpmEnv() };

const FAKE_AGENT = `#!/usr/bin/env node
// A stand-in agent with the release layout: --version, agent --self-test, agent (serves /healthz and,
// once it listens, records its commit in the state dir as the real agent does for the update guard).
import { createServer } from 'node:http';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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
createServer((req, res) => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ ok: true, state: 'online', commit })); })
  .listen(Number(process.env.OPS_TEST_AGENT_PORT), '127.0.0.1', () => {
    const dir = join(process.env.OPS_TEST_STATE_DIR, 'update');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'running.json'), JSON.stringify({ pid: process.pid, commit, startedAt: new Date().toISOString() }));
  });
process.on('SIGTERM', () => process.exit(0));
}
`;

const FIRST_FILES = {
  'package.json': JSON.stringify({ name: 'fake-agent', version: '0.0.1', type: 'module', scripts: { build: 'node build.mjs' } }),
  'package-lock.json': JSON.stringify({ name: 'fake-agent', version: '0.0.1', lockfileVersion: 3, requires: true, packages: { '': { name: 'fake-agent', version: '0.0.1' } } }),
  'build.mjs': "import { mkdirSync, copyFileSync } from 'node:fs';\nmkdirSync('dist/src/bin', { recursive: true });\ncopyFileSync('src/httpagent.js', 'dist/src/bin/httpagent.js');\n",
  'src/httpagent.js': FAKE_AGENT,
};

let smtp: PrivateSmtp;
/** A remote with the first commit, a clone to commit from, and a prefix with that commit built and current: copied by every test. */
let template: string;
let firstCommit: string;

/** Signing keys made with ssh-keygen in beforeAll: `release` is listed in the allowed-signers file, `stranger` is not. */
let keys: { dir: string; release: string; stranger: string; allowedSigners: string };

async function commitIn(work: string, message: string, files: Record<string, string | null> = {}, signWith?: string): Promise<string> {
  for (const [name, text] of Object.entries(files)) {
    const p = join(work, name);
    if (text === null) unlinkSync(p);
    else writeFileSync(p, text);
  }
  await git('git', ['-C', work, 'add', '-A']);
  const sign = signWith ? ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${signWith}`] : [];
  await git('git', ['-C', work, ...sign, 'commit', '-q', '--allow-empty', ...(signWith ? ['-S'] : ['--no-gpg-sign']), '-m', message]);
  await git('git', ['-C', work, 'push', '-q', 'origin', 'HEAD:main']);
  return (await git('git', ['-C', work, 'rev-parse', 'HEAD'])).stdout.trim();
}

beforeAll(async () => {
  smtp = await startSmtp();
  const keyDir = mkdtempSync(join(tmpdir(), 'httpagent-update-keys-'));
  for (const name of ['release', 'stranger']) await git('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(keyDir, name)]);
  keys = { dir: keyDir, release: join(keyDir, 'release'), stranger: join(keyDir, 'stranger'), allowedSigners: join(keyDir, 'allowed_signers') };
  writeFileSync(keys.allowedSigners, `release@example.test ${readFileSync(`${keys.release}.pub`, 'utf8').trim()}\n`);
  template = mkdtempSync(join(tmpdir(), 'httpagent-update-template-'));
  const remote = join(template, 'remote.git');
  const work = join(template, 'work');
  await git('git', ['init', '-q', '--bare', '-b', 'main', remote]);
  await git('git', ['clone', '-q', remote, work]);
  await git('git', ['-C', work, 'config', 'user.email', 'ops@example.test']);
  await git('git', ['-C', work, 'config', 'user.name', 'ops test']);
  mkdirSync(join(work, 'src'));
  firstCommit = await commitIn(work, 'first', FIRST_FILES);
  // The first release is installed the way install.sh does it: built in staging, then linked.
  const layout = releaseLayout(join(template, 'prefix'));
  const cache = join(template, 'build-cache.git');
  expect(await fetchHead(cache, remote, 'main')).toBe(firstCommit);
  switchCurrent(layout, await prepareRelease({ layout, cacheDir: cache, commit: firstCommit, buildSteps: DEFAULT_BUILD_STEPS, env: buildEnv }));
}, 180_000); // three npm runs: a minute and more on a loaded machine

afterAll(async () => {
  await smtp?.close();
  if (keys) rmSync(keys.dir, { recursive: true, force: true });
  if (template) rmSync(template, { recursive: true, force: true });
});

/**
 * One test's own installation, copied from the template: remote, clone, prefix on the first commit,
 * a private supervisord running the fake agent and monitor from `current`, and an updater factory.
 */
async function installation(opts: { deadlineSec?: number; settings?: Partial<Record<keyof AgentConfig, unknown>> } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'httpagent-update-'));
  // Cleaned up however the test ends, also while this setup is still under way (a timeout).
  let sup: PrivateSupervisord | undefined;
  onTestFinished(async () => {
    await sup?.shutdown();
    rmSync(dir, { recursive: true, force: true });
  });
  cpSync(template, dir, { recursive: true, verbatimSymlinks: true });
  const remote = join(dir, 'remote.git');
  const work = join(dir, 'work');
  const prefix = join(dir, 'prefix');
  await git('git', ['-C', work, 'remote', 'set-url', 'origin', remote]);
  const port = await freePort();
  const stateDir = join(dir, 'state');
  const configFile = join(dir, 'httpagent.yaml');
  const settings = {
    listen: `127.0.0.1:${port}`,
    stateDir,
    updateRemote: remote,
    updateBranch: 'main',
    updatePrefix: prefix,
    // The guard's patience: generous, so a slow restart on a loaded machine is never taken for a bad
    // release; the rollback test shortens it (its release is never healthy however fast it starts).
    updateDeadlineSec: opts.deadlineSec ?? 120,
    smtpUrl: smtp.url,
    alertTo: ['ops@example.test'],
    ...opts.settings,
  };
  writeFileSync(configFile, JSON.stringify(settings), { mode: 0o600 });
  const { smtpUrl: _s, alertTo: _a, ...agentOnly } = settings;
  const config: AgentConfig = agentConfigSchema.parse(agentOnly);
  writeFileSync(
    join(dir, 'agent.conf'),
    `[program:agent]\ncommand=${process.execPath} ${prefix}/current/dist/src/bin/httpagent.js agent\nautorestart=true\nstartsecs=1\nstartretries=3\nstopsignal=TERM\nstopasgroup=true\nenvironment=OPS_TEST_AGENT_PORT="${port}",OPS_TEST_STATE_DIR="${stateDir}"\n` +
      `[program:monitor]\ncommand=${process.execPath} ${prefix}/current/dist/src/bin/httpagent.js monitor\nautorestart=true\nstartsecs=1\n` +
      `environment=OPS_TEST_MONITOR_FILE="${join(dir, 'monitor-commit')}"\n`,
  );
  const supervisord = (sup = await startSupervisord(join(dir, 'sup'), [join(dir, 'agent.conf')]));
  const healthCommit = async (): Promise<string | undefined> => {
    try {
      const res = await request(`http://127.0.0.1:${port}/healthz`);
      return ((await res.body.json()) as { commit?: string }).commit;
    } catch {
      return undefined;
    }
  };
  const inst = {
    dir,
    prefix,
    config,
    healthCommit,
    exits: [] as string[],
    alerts: [] as string[],
    runningJobs: 0,
    resumed: 0,
    commit: (message: string, files: Record<string, string | null> = {}, signWith?: string) => commitIn(work, message, files, signWith),
    /** Moves the remote's branch to `commit` (a force-push that rewinds history). */
    forcePush: (commit: string) => git('git', ['-C', work, 'push', '-q', '--force', 'origin', `${commit}:main`]),
    state: () => readUpdateState(updateStatePath(config.stateDir)),
    /** For failure messages: the update state and the supervisor's and guard's logs. */
    explain: () =>
      [`--- update state: ${JSON.stringify(readUpdateState(updateStatePath(config.stateDir)))}`, fileTail(join(stateDir, 'update', 'guard.log')), fileTail(join(dir, 'sup', 'supervisord.log'), 20)].join('\n'),
    current: () => releaseCommit(currentRelease(releaseLayout(prefix))!),
    updater(overrides: Partial<AgentConfig> = {}) {
      const jobs: JobActivity = { running: () => inst.runningJobs, pause: async () => undefined, resume: () => void inst.resumed++ };
      return createSelfUpdater({ ...config, ...overrides }, {
        logger: silentLogger(),
        jobs,
        env: buildEnv,
        configFile,
        alert: async (subject) => void inst.alerts.push(subject),
        guardCommand: [process.execPath, binJs, 'update-guard', '--poll-ms', '200'],
        // The agent's own exit, as run-agent does it: the supervisor starts `current` again.
        exit: (reason) => {
          inst.exits.push(reason);
          void supervisord.ctl('signal', 'TERM', 'agent');
        },
      });
    },
  };
  await waitUntil('first release healthy', async () => (await healthCommit()) === firstCommit);
  return inst;
}

// Each test builds at least one release (npm ci, build, prune): minutes on a loaded two-core machine.
describe('self-update from a bare git repo', { timeout: 180_000 }, () => {
  it('is up to date on the installed commit', async () => {
    const i = await installation();
    expect((await i.updater().checkNow()).kind).toBe('up-to-date');
  });

  it('puts the switch off while a job runs (idle mode), then comes back on the new commit', async () => {
    const i = await installation();
    const next = await i.commit('second');
    i.runningJobs = 1;
    const deferred = await i.updater().checkNow();
    expect(deferred).toEqual({ kind: 'deferred', commit: next });
    expect(i.resumed).toBe(1);
    // Built and checked once; the next check reuses it instead of building again.
    expect(existsSync(join(i.prefix, 'releases', releaseName(next), '.release-ok'))).toBe(true);
    expect(i.current()).not.toBe(next);

    i.runningJobs = 0;
    const out = await i.updater().checkNow();
    expect(out).toEqual({ kind: 'switched', commit: next });
    expect(i.exits).toHaveLength(1);
    expect(i.current()).toBe(next);
    await waitUntil('agent on the new commit', async () => (await i.healthCommit()) === next, { explain: i.explain });
    // The guard confirms and clears the pending switch.
    await waitUntil('guard confirmed', () => i.state().confirmed === next, { explain: i.explain });
    expect(i.state().pending).toBeUndefined();
    // Once healthy, the monitor is restarted on the new release as well.
    await waitUntil('monitor on the new commit', () => readFileSync(join(i.dir, 'monitor-commit'), 'utf8').trim() === next, { explain: i.explain });
  });

  it('never switches to a commit that fails its self-test, and does not retry it', async () => {
    const i = await installation();
    const before = currentRelease(releaseLayout(i.prefix));
    const bad = await i.commit('breaks the self-test', { SELFTEST_FAIL: 'x' });
    const out = await i.updater().checkNow();
    expect(out).toEqual({ kind: 'failed', commit: bad, code: 'UPDATE_SELF_TEST_FAILED' });
    expect(currentRelease(releaseLayout(i.prefix))).toBe(before);
    expect(existsSync(join(i.prefix, 'releases', releaseName(bad)))).toBe(false);
    expect(i.state().failed).toMatchObject({ commit: bad, reason: 'self-test' });
    expect(i.alerts.at(-1)).toMatch(/self-test/);
    expect(await i.updater().checkNow()).toEqual({ kind: 'known-bad', commit: bad });
    expect(i.exits).toHaveLength(0);
  });

  it('rolls back a commit that starts but is not healthy, mails, and does not retry it', async () => {
    const i = await installation({ deadlineSec: 5 });
    const good = i.current();
    const bad = await i.commit('starts but reports the wrong commit', { UNHEALTHY: 'x' });
    expect(await i.updater().checkNow()).toEqual({ kind: 'switched', commit: bad });
    // The guard waits out the deadline (5 s), switches back and restarts the agent on the old release.
    await waitUntil('rollback recorded', () => i.state().failed?.commit === bad, { timeoutMs: 60_000, explain: i.explain });
    expect(i.state().failed?.reason).toBe('unhealthy');
    expect(i.current()).toBe(good);
    await waitUntil('agent back on the old commit', async () => (await i.healthCommit()) === good, { explain: i.explain });
    const mail = await smtp.waitFor(new RegExp(`update to ${releaseName(bad)} rolled back`));
    expect(mail).toMatch(/To: ops@example\.test/);
    expect(await i.updater().checkNow()).toEqual({ kind: 'known-bad', commit: bad });
  });

  it('tries again once a newer commit arrives after a bad one', async () => {
    const i = await installation();
    const bad = await i.commit('breaks the self-test', { SELFTEST_FAIL: 'x' });
    expect(await i.updater().checkNow()).toEqual({ kind: 'failed', commit: bad, code: 'UPDATE_SELF_TEST_FAILED' });
    const fixed = await i.commit('fixed', { SELFTEST_FAIL: null });
    expect(await i.updater().checkNow()).toEqual({ kind: 'switched', commit: fixed });
    await waitUntil('agent on the fixed commit', async () => (await i.healthCommit()) === fixed, { explain: i.explain });
    await waitUntil('guard confirmed', () => i.state().confirmed === fixed, { explain: i.explain });
    expect(readFileSync(join(i.prefix, 'current', 'COMMIT'), 'utf8').trim()).toBe(fixed);
  });
});

/** package.json and its lock at `version`, as a release bump (or a downgrade) commits them. */
function versionFiles(version: string): Record<string, string> {
  const pkg = JSON.parse(FIRST_FILES['package.json']) as Record<string, unknown>;
  const lock = JSON.parse(FIRST_FILES['package-lock.json']) as { packages: Record<string, Record<string, unknown>> } & Record<string, unknown>;
  return {
    'package.json': JSON.stringify({ ...pkg, version }),
    'package-lock.json': JSON.stringify({ ...lock, version, packages: { '': { ...lock.packages[''], version } } }),
  };
}

// Issue 11: self-update took whatever the remote served. With updateAllowedSigners only a head signed by a
// listed key is built, and a head older than the running release (version or history) is refused.
describe('signed and forward-only self-update', { timeout: 180_000 }, () => {
  it('builds only a head signed by a listed key; an unsigned or unlisted one is refused, alerted once, never retried', async () => {
    const i = await installation({ settings: { updateAllowedSigners: keys.allowedSigners } });
    const before = i.current();

    const unsigned = await i.commit('unsigned');
    expect(await i.updater().checkNow()).toEqual({ kind: 'refused', commit: unsigned, code: 'UPDATE_UNSIGNED' });
    expect(i.alerts).toEqual([expect.stringMatching(/refused \(not signed by an allowed key\)/)]);
    expect(i.state().refused).toEqual([expect.objectContaining({ commit: unsigned, code: 'UPDATE_UNSIGNED' })]);
    // Seen again: not judged, built or alerted about again.
    expect(await i.updater().checkNow()).toEqual({ kind: 'known-bad', commit: unsigned });
    expect(i.alerts).toHaveLength(1);

    const stranger = await i.commit('signed by a key nobody listed', {}, keys.stranger);
    expect(await i.updater().checkNow()).toEqual({ kind: 'refused', commit: stranger, code: 'UPDATE_UNSIGNED' });
    expect(i.state().refused?.at(-1)?.detail).toMatch(/No principal matched/);
    expect(i.alerts).toHaveLength(2);
    for (const c of [unsigned, stranger]) expect(existsSync(join(i.prefix, 'releases', releaseName(c)))).toBe(false);
    expect(i.current()).toBe(before);

    // A signers file that cannot be read is a failed check, not a verdict: nothing is recorded or built,
    // and the same head goes through once the file is back.
    const signed = await i.commit('signed by the release key', {}, keys.release);
    await expect(i.updater({ updateAllowedSigners: join(keys.dir, 'missing') }).checkNow()).rejects.toMatchObject({ code: 'UPDATE_SIGNERS_UNREADABLE' });
    expect(i.state().refused?.map((r) => r.commit)).toEqual([unsigned, stranger]);
    // Signed: built and self-tested (a job runs, so the switch waits: the build is what this test is about).
    i.runningJobs = 1;
    expect(await i.updater().checkNow()).toEqual({ kind: 'deferred', commit: signed });
    expect(existsSync(join(i.prefix, 'releases', releaseName(signed), '.release-ok'))).toBe(true);
    expect(i.alerts).toHaveLength(2);
    expect(i.exits).toHaveLength(0);
  });

  it('refuses a lower version unless updateAllowDowngrade, alerting once', async () => {
    const i = await installation();
    const older = await i.commit('version 0.0.0', versionFiles('0.0.0'));
    expect(await i.updater().checkNow()).toEqual({ kind: 'refused', commit: older, code: 'UPDATE_DOWNGRADE' });
    expect(i.state().refused?.at(-1)?.detail).toMatch(/version 0\.0\.0, older than the running 0\.0\.1/);
    expect(await i.updater().checkNow()).toEqual({ kind: 'known-bad', commit: older });
    expect(i.alerts).toEqual([expect.stringMatching(/refused \(older than the running release\)/)]);
    expect(existsSync(join(i.prefix, 'releases', releaseName(older)))).toBe(false);
    // The operator says so: the same head is judged again and built.
    i.runningJobs = 1;
    expect(await i.updater({ updateAllowDowngrade: true }).checkNow()).toEqual({ kind: 'deferred', commit: older });
    expect(existsSync(join(i.prefix, 'releases', releaseName(older), '.release-ok'))).toBe(true);
  });

  it('refuses a force-push that rewinds the branch to an older commit of the same version', async () => {
    const i = await installation();
    const next = await i.commit('second');
    expect(await i.updater().checkNow()).toEqual({ kind: 'switched', commit: next });
    await waitUntil('guard confirmed the second commit', () => i.state().confirmed === next, { explain: i.explain });
    // The first commit has the running version: only history tells that it is older.
    await i.forcePush(firstCommit);
    expect(await i.updater().checkNow()).toEqual({ kind: 'refused', commit: firstCommit, code: 'UPDATE_DOWNGRADE' });
    expect(i.state().refused?.at(-1)?.detail).toMatch(/ancestor of the running .*rewound/);
    expect(await i.updater().checkNow()).toEqual({ kind: 'known-bad', commit: firstCommit });
    expect(i.current()).toBe(next);
    expect(i.alerts).toHaveLength(1);
  });
});
