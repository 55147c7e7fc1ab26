// Attack test: a hostile task against a real agent process. A root agent runs light tasks and job
// steps as the task user, with a clean environment, so a task cannot read the agent's config file,
// credential or /proc/<pid>/environ; root only where tasks.yaml says so. An agent that is not root runs
// tasks as itself, says so once, and refuses what needs root with a coded 403.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENROLL_TOKEN, PLATFORM_TOKEN, startJobSystem, type AgentHandle, type JobSystem } from '../helpers/job-system.js';
import { agentTestEnv, binJs, repoRoot, track } from '../helpers/processes.js';
import { newPublicKey } from '../helpers/ssh-keys.js';
import { account, asRoot, createTempUser, TEST_TASK_USER, type TestAccount } from '../helpers/task-user.js';

/** In the agent's environment and nowhere a task may look. */
const CANARY = 'canary-secret-0123456789abcdef';

const SCRIPTS: Record<string, string> = {
  // Who the task runs as, where, and its whole environment.
  whoami: '#!/bin/sh\necho "uid=$(id -u) gid=$(id -g) groups=$(id -G)"\necho "cwd=$(pwd)"\nenv\n',
  // One line per file of the colon-separated `files` param: "<file>: read" or the error reading it.
  probe:
    '#!/bin/sh\nIFS=:\nfor f in $HTTPAGENT_PARAM_FILES; do\n  if err=$(head -c 1 -- "$f" 2>&1 >/dev/null); then echo "$f: read"; else echo "$f: $err"; fi\ndone\n' +
    'if [ -n "${HTTPAGENT_PARAM_SHOW-}" ]; then tr "\\0" " " < "$HTTPAGENT_PARAM_SHOW"; fi\n',
};
const MANIFEST = `version: 1
defaults:
  env:
    SITE: test-site
tasks:
  whoami:
    runAs: task
    env:
      SERVICE_ROOTS: /srv
      LOG_ROOTS: /var/log
  probe: {}
  as-root:
    runAs: root
`;

function writeTasks(dir: string): void {
  mkdirSync(dir, { mode: 0o755 });
  for (const [name, text] of Object.entries(SCRIPTS)) writeFileSync(join(dir, name), text, { mode: 0o755 });
  // The same script three times: declared task, declared root, and not declared at all.
  copyFileSync(join(dir, 'whoami'), join(dir, 'as-root'));
  copyFileSync(join(dir, 'whoami'), join(dir, 'undeclared'));
  writeFileSync(join(dir, 'tasks.yaml'), MANIFEST, { mode: 0o644 });
}

interface Who {
  uid: number;
  gid: number;
  groups: number[];
  cwd: string;
  env: Map<string, string>;
}

/** Parses the whoami task's output (light stdout, or a job log with the agent's marker lines around it). */
function parseWho(text: string): Who {
  const lines = text.split('\n');
  const first = lines.findIndex((l) => l.startsWith('uid='));
  const m = lines[first]!.match(/^uid=(\d+) gid=(\d+) groups=([\d ]+)$/)!;
  const env = new Map<string, string>();
  for (const line of lines.slice(first + 2)) {
    if (line.startsWith('==> ')) break;
    const eq = line.indexOf('=');
    if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(line)) env.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return { uid: Number(m[1]), gid: Number(m[2]), groups: m[3]!.trim().split(' ').map(Number), cwd: lines[first + 1]!.slice(4), env };
}

const run = (sys: JobSystem, agent: AgentHandle, task: string, params: Record<string, string> = {}) => sys.agentPort(agent, 'POST', '/v1/run', { task, params });

/** A one-step job sent by the platform to this agent. */
async function runJob(sys: JobSystem, agent: AgentHandle, task: string, params: Record<string, string> = {}): Promise<{ job: any; log: string }> {
  const id = await sys.submit({ task, params, agent: agent.id });
  const job = await sys.waitFinal(id);
  return { job, log: await sys.log(id) };
}

/** What a task may find in its environment; anything else came from the agent. VITEST_HTTPAGENT_OWNER: the tests' own setting (processes.ts). */
const ALLOWED_ENV = /^(PATH|HOME|USER|LOGNAME|PWD|SHLVL|_|LANG|LANGUAGE|LC_[A-Z_]+|SITE|SERVICE_ROOTS|LOG_ROOTS|VITEST_HTTPAGENT_OWNER|HTTPAGENT_PARAM_[A-Z0-9_]+|HTTPAGENT_JOB_ID|HTTPAGENT_JOB_ATTEMPT|HTTPAGENT_STEP_INDEX)$/;

function expectCleanEnv(who: Who, user: TestAccount, secrets: string[]): void {
  for (const [k, v] of who.env) {
    expect(k, `${k} reached the task`).toMatch(ALLOWED_ENV);
    for (const secret of secrets) expect(v).not.toContain(secret);
  }
  expect(who.env.get('USER')).toBe(user.name);
  expect(who.env.get('LOGNAME')).toBe(user.name);
  expect(who.env.get('HOME')).toBe(user.home);
}

describe.skipIf(!asRoot)('a root agent runs tasks as the task user (skipped: needs root to switch accounts)', () => {
  let sys: JobSystem;
  let agent: AgentHandle;
  const taskUser = account(TEST_TASK_USER);
  let configFile: string;
  let stateDir: string;
  let tmp: string;
  let tasksDir: string;
  // The handle's stateDir is the helper's default; this agent was given its own.
  const secrets = () => [CANARY, PLATFORM_TOKEN, ENROLL_TOKEN, readFileSync(join(stateDir, 'credential'), 'utf8').trim()];

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'httpagent-task-user-'));
    chmodSync(tmp, 0o755); // the task user must reach tasksDir inside it
    tasksDir = join(tmp, 'tasks');
    writeTasks(tasksDir);
    configFile = join(tmp, 'httpagent.yaml');
    writeFileSync(configFile, `taskUser: ${TEST_TASK_USER}\n`, { mode: 0o600 });
    stateDir = join(tmp, 'state');
    mkdirSync(stateDir, { mode: 0o755 }); // as an older install left it: the agent closes it
    chmodSync(stateDir, 0o755);
    sys = await startJobSystem({ leaseMs: 2000 });
    agent = await sys.startAgent('root-agent', {
      HTTPAGENT_CONFIG: configFile,
      HTTPAGENT_TASKS_DIR: tasksDir,
      HTTPAGENT_STATE_DIR: stateDir,
      HTTPAGENT_TASK_ENV: JSON.stringify({ SERVICE_ROOTS: '/srv/from-operator' }),
      AWS_SECRET_ACCESS_KEY: CANARY,
    });
  });
  afterAll(async () => {
    await sys?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('runs a light task and a job step as the task user: not root, not the agent', async () => {
    const light = await run(sys, agent, 'whoami');
    expect(light.status).toBe(200);
    const who = parseWho(light.json.stdout);
    expect(who).toMatchObject({ uid: taskUser.uid, gid: taskUser.gid });
    expect(who.uid).not.toBe(0);
    expect(who.groups).not.toContain(0);
    // nobody is in no group but its own: the spawn switched ids itself (no setpriv) and kept none of root's groups.
    expect(who.groups).toEqual([taskUser.gid]);
    expect(statSync(`/proc/${agent.proc.pid}`).uid).toBe(0); // the agent itself is root

    const { job, log } = await runJob(sys, agent, 'whoami');
    expect(job.state, log).toBe('succeeded');
    expect(parseWho(log)).toMatchObject({ uid: taskUser.uid, gid: taskUser.gid });
  });

  it("gives a task a clean environment: the account's names, the settings and the params, no HTTPAGENT_ setting or secret", async () => {
    const light = parseWho((await run(sys, agent, 'whoami', { value: 'x' })).json.stdout);
    expectCleanEnv(light, taskUser, secrets());
    // tasks.yaml's defaults and the task's own env, with the operator's taskEnv over them.
    expect(Object.fromEntries([...light.env].filter(([k]) => /^(SITE|SERVICE_ROOTS|LOG_ROOTS|HTTPAGENT_PARAM_VALUE)$/.test(k)))).toEqual({
      SITE: 'test-site',
      SERVICE_ROOTS: '/srv/from-operator',
      LOG_ROOTS: '/var/log',
      HTTPAGENT_PARAM_VALUE: 'x',
    });

    const step = parseWho((await runJob(sys, agent, 'whoami', { value: 'y' })).log);
    expectCleanEnv(step, taskUser, secrets());
    expect(step.env.get('HTTPAGENT_PARAM_VALUE')).toBe('y');
    expect(step.env.get('HTTPAGENT_JOB_ID')).toMatch(/./);
  });

  it("cannot read the agent's config file, credential or /proc/<pid>/environ; its cmdline holds no secret", async () => {
    const pid = agent.proc.pid!;
    const credential = join(stateDir, 'credential');
    const files = [configFile, credential, `/proc/${pid}/environ`];
    for (const [name, run_] of [['light', () => run(sys, agent, 'probe', { files: files.join(':'), show: `/proc/${pid}/cmdline` }).then((r) => r.json.stdout as string)], ['step', () => runJob(sys, agent, 'probe', { files: files.join(':'), show: `/proc/${pid}/cmdline` }).then((r) => r.log)]] as const) {
      const out = await run_();
      for (const f of files) expect(out, name).toMatch(new RegExp(`^${f}: .*Permission denied$`, 'm'));
      // cmdline is world-readable on Linux (only a hidepid mount of /proc hides it): the agent never puts a secret there.
      expect(out).toContain('httpagent.js agent');
      for (const secret of secrets()) expect(out).not.toContain(secret);
    }
    // The files are there and hold the secrets: the denial is the kernel's, not a missing file.
    expect(readFileSync(`/proc/${pid}/environ`, 'utf8')).toContain(CANARY);
    expect(readFileSync(credential, 'utf8')).toContain('ha1:root-agent:');
    expect(statSync(credential).mode & 0o777).toBe(0o600);
  });

  it('runs a runAs: root task as uid 0, and an undeclared task as the task user', async () => {
    const root = parseWho((await run(sys, agent, 'as-root')).json.stdout);
    expect(root.uid).toBe(0);
    expect(root.env.get('HOME')).toBe('/root');
    expect((await runJob(sys, agent, 'as-root')).log).toMatch(/^uid=0 /m);
    expect(parseWho((await run(sys, agent, 'undeclared')).json.stdout).uid).toBe(taskUser.uid);
    expect(parseWho((await runJob(sys, agent, 'undeclared')).log).uid).toBe(taskUser.uid);
  });

  it("gives a task user in a service's group that group too (started through setpriv --init-groups)", async () => {
    const user = createTempUser('hagrp');
    const group = `${user.name}-svc`.slice(0, 32);
    try {
      expect(spawnSync('groupadd', ['--system', group]).status).toBe(0);
      expect(spawnSync('usermod', ['--append', '--groups', group, user.name]).status).toBe(0);
      const gid = Number(execFileSync('getent', ['group', group]).toString().split(':')[2]);
      const groupedState = join(tmp, 'grouped-state');
      const grouped = await sys.startAgent('grouped-agent', { HTTPAGENT_TASK_USER: user.name, HTTPAGENT_TASKS_DIR: tasksDir, HTTPAGENT_STATE_DIR: groupedState });
      try {
        // "agent started" may come before the enrollment is through; port tokens exist once it is.
        await sys.waitFor('the agent to enroll', async () => existsSync(join(groupedState, 'credential')));
        const light = parseWho((await run(sys, grouped, 'whoami')).json.stdout);
        expect(light).toMatchObject({ uid: user.uid, gid: user.gid });
        expect(light.groups.sort()).toEqual([user.gid, gid].sort());
        expect(parseWho((await runJob(sys, grouped, 'whoami')).log).groups.sort()).toEqual([user.gid, gid].sort());
      } finally {
        await grouped.kill('SIGTERM');
      }
    } finally {
      user.remove();
      spawnSync('groupdel', [group]);
    }
  });

  it('closed the state directory an older install left open, and said so', () => {
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);
    expect(agent.output()).toMatch(/"was":"0755".*stateDir was open to other users/);
  });

  it('refuses to start when the task user could read the config file or rewrite a task', async () => {
    const open = join(tmp, 'open.yaml');
    writeFileSync(open, `taskUser: ${TEST_TASK_USER}\n`, { mode: 0o644 });
    chmodSync(open, 0o644);
    await expect(sys.startAgent('open-config', { HTTPAGENT_CONFIG: open, HTTPAGENT_TASKS_DIR: tasksDir })).rejects.toThrow(
      new RegExp(`exited \\(2\\)[\\s\\S]*open\\.yaml can be read by the task user ${TEST_TASK_USER}`),
    );

    const planted = join(tmp, 'planted-tasks');
    writeTasks(planted);
    chownSync(join(planted, 'whoami'), taskUser.uid, taskUser.gid);
    await expect(sys.startAgent('planted', { HTTPAGENT_TASKS_DIR: planted })).rejects.toThrow(/exited \(2\)[\s\S]*whoami can be changed by the task user/);
  });
});

describe.skipIf(!asRoot)('an agent that is not root (skipped: needs root to create the user it runs as)', () => {
  let sys: JobSystem;
  let user: TestAccount & { remove(): void };
  let agent: AgentHandle;
  let tmp: string;

  beforeAll(async () => {
    user = createTempUser('hatest');
    tmp = mkdtempSync(join(tmpdir(), 'httpagent-task-user-'));
    chmodSync(tmp, 0o755); // its user must reach tasksDir inside it
    const tasksDir = join(tmp, 'tasks');
    writeTasks(tasksDir);
    const home = join(tmp, 'home');
    mkdirSync(home, { mode: 0o700 });
    chownSync(home, user.uid, user.gid);
    const own = (file: string, text: string) => {
      writeFileSync(file, text, { mode: 0o600 });
      chownSync(file, user.uid, user.gid);
    };
    const config = join(home, 'httpagent.yaml');
    own(config, 'authorizeUsers: [root]\n');
    const enrollTokenFile = join(home, 'enroll-token');
    own(enrollTokenFile, `${ENROLL_TOKEN}\n`);
    sys = await startJobSystem({ leaseMs: 2000 });
    const stateDir = join(home, 'state');
    const proc = spawn(process.execPath, [binJs, 'agent', '--config', config], {
      cwd: repoRoot,
      env: agentTestEnv({
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: home,
        HTTPAGENT_CONTROLLER_URL: sys.controllerUrl,
        HTTPAGENT_AGENT_ID: 'plain-agent',
        HTTPAGENT_LISTEN: '127.0.0.1:0',
        HTTPAGENT_ENROLL_TOKEN_FILE: enrollTokenFile,
        HTTPAGENT_TASKS_DIR: tasksDir,
        HTTPAGENT_STATE_DIR: stateDir,
      }),
      uid: user.uid,
      gid: user.gid,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const spawned = track(proc);
    const started = await Promise.race([
      spawned.waitFor(/^.*"agent started".*$/m, 60_000),
      spawned.exited().then((code): string => {
        throw new Error(`agent exited (${code}):\n${spawned.output()}`);
      }),
    ]);
    agent = Object.assign(spawned, {
      id: 'plain-agent',
      stateDir,
      enrollTokenFile,
      url: /"listen":"(http:\/\/[^"]+)"/.exec(started)![1]!,
      credential: () => readFileSync(join(stateDir, 'credential'), 'utf8').trim(),
    });
    // "agent started" may come before the enrollment is through; port tokens exist once it is.
    await sys.waitFor('the agent to enroll', async () => existsSync(join(stateDir, 'credential')));
  });
  afterAll(async () => {
    if (agent && agent.proc.exitCode === null && agent.proc.signalCode === null) await agent.kill('SIGKILL');
    await sys?.stop();
    user?.remove();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('runs tasks as its own user and warns once at start that they can read its credential and config', async () => {
    const light = parseWho((await run(sys, agent, 'whoami')).json.stdout);
    expect(light.uid).toBe(user.uid);
    expect(light.env.get('USER')).toBe(user.name);
    const { job, log } = await runJob(sys, agent, 'whoami');
    expect(job.state, log).toBe('succeeded');
    expect(parseWho(log).uid).toBe(user.uid);
    expect(agent.output().match(/can read its credential and config/g)).toHaveLength(1);
  });

  it('refuses a runAs: root task with 403 TASK_NEEDS_ROOT, and fails such a step without running it', async () => {
    const r = await run(sys, agent, 'as-root');
    expect(r.status).toBe(403);
    expect(r.json.error.code).toBe('TASK_NEEDS_ROOT');
    const { job, log } = await runJob(sys, agent, 'as-root');
    expect(job.state).toBe('failed');
    expect(log).toContain('runs as root (tasks.yaml)');
    expect(log).not.toMatch(/^uid=/m);
  });

  it("answers 403 AUTHORIZE_NEEDS_ROOT for another user's authorized_keys, not 500", async () => {
    const r = await sys.agentPort(agent, 'POST', '/v1/authorize', { user: 'root', publicKey: newPublicKey() });
    expect(r.status).toBe(403);
    expect(r.json.error.code).toBe('AUTHORIZE_NEEDS_ROOT');
  });
});
