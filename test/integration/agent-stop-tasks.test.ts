// Task scripts do not outlive the agent. Steps and light tasks run in process groups of their own, so
// supervisord's stopasgroup/killasgroup never reach them: the agent must stop them itself. Under a real
// supervisord (the shipped program file), `supervisorctl stop` ends with no group of a running step or
// light task left and the agent exiting by itself; a second signal takes both groups along at once.
// The task is `stubborn` (ignores SIGTERM, with a child that does too), so only a SIGKILL of the group ends it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENROLL_TOKEN, fixtureTasks, startJobSystem, type JobSystem } from '../helpers/job-system.js';
import { freePort } from '../helpers/ports.js';
import { asRoot, shareWithTasks, TEST_TASK_USER } from '../helpers/task-user.js';
import { waitUntil } from '../helpers/wait.js';
import { makeFakePrefix, renderTemplate, startSupervisord, type PrivateSupervisord } from './ops-helpers.js';

const hasSupervisord = (() => {
  try {
    execFileSync('sh', ['-c', 'command -v supervisord && command -v supervisorctl'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

let sys: JobSystem;
beforeAll(async () => {
  sys = await startJobSystem({ leaseMs: 2000, longPollMs: 2000 });
});
afterAll(async () => sys?.stop());

/** State and process group of a pid (fields 3 and 5 of its stat; the name before them may hold spaces). */
function statOf(pid: number | string): { state: string; pgrp: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: state ?? '', pgrp: Number(pgrp) };
  } catch {
    return undefined; // gone
  }
}

/** Members of a process group that are not zombies (a zombie is dead; the container's init may be slow to reap it). */
function groupMembers(pgid: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      const s = statOf(name);
      return s !== undefined && s.pgrp === pgid && s.state !== 'Z';
    })
    .map(Number);
}

async function waitGroupsGone(...pgids: number[]): Promise<void> {
  await waitUntil('the task groups gone', () => pgids.every((g) => groupMembers(g).length === 0), {
    timeoutMs: 5_000,
    explain: () => JSON.stringify(Object.fromEntries(pgids.map((g) => [g, groupMembers(g)]))),
  });
}

/** The two pids `stubborn` writes: its own (the group's leader, as the agent starts it) and its child's. */
async function stubbornPids(pidfile: string): Promise<number[]> {
  await sys.waitFor('the tree to start', async () => existsSync(pidfile) && readFileSync(pidfile, 'utf8').trim().split(' ').length === 2);
  return readFileSync(pidfile, 'utf8').trim().split(' ').map(Number);
}

/** POST /v1/run of `stubborn` at an agent; resolves with the reply, or the error when the agent went away. */
async function runLight(port: number, agentId: string, pidfile: string): Promise<{ status: number; json: any } | Error> {
  const token = await sys.portToken(agentId);
  return fetch(`http://127.0.0.1:${port}/v1/run`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ task: 'stubborn', params: { pidfile }, timeoutSec: 600 }),
  }).then(
    async (res) => ({ status: res.status, json: await res.json() }),
    (err: Error) => err,
  );
}

describe.skipIf(!hasSupervisord)('under supervisord', () => {
  const AGENT = 'httpagent:httpagent-agent';
  const AGENT_ID = 'supervised-stop';
  let dir: string;
  let sup: PrivateSupervisord;
  let port: number;

  beforeAll(async () => {
    // A root agent runs the tasks as TEST_TASK_USER; they write their pid files here.
    dir = shareWithTasks(mkdtempSync(join(tmpdir(), 'httpagent-stop-')));
    port = await freePort();
    const prefix = join(dir, 'prefix');
    makeFakePrefix(prefix);
    const config = join(dir, 'httpagent.json');
    writeFileSync(join(dir, 'enroll-token'), ENROLL_TOKEN, { mode: 0o600 });
    writeFileSync(
      config,
      JSON.stringify({
        agentId: AGENT_ID,
        controllerUrl: sys.controllerUrl,
        enrollTokenFile: join(dir, 'enroll-token'),
        listen: `127.0.0.1:${port}`,
        stateDir: join(dir, 'state'),
        tasksDir: fixtureTasks,
        drainGraceSec: 1,
        killGraceMs: 500,
        runTimeoutSec: 600,
        leaseMs: 2000,
        ...(asRoot ? { taskUser: TEST_TASK_USER } : {}),
      }),
      { mode: 0o600 },
    );
    writeFileSync(
      join(dir, 'httpagent.conf'),
      renderTemplate('supervisor/httpagent.conf.in', {
        NODE: process.execPath,
        PREFIX: prefix,
        CODE_ROOT: prefix,
        CONFIG: config,
        USER_LINE: '',
        STOP_WAIT_SEC: '60',
        LOG_DIR: dir,
        HOME: dir,
      }).replace(/environment=HOME="([^"]*)",NODE_ENV="production"/g, 'environment=HOME="$1",NODE_ENV="production",OPS_TEST_FAKE="monitor"'),
    );
    sup = await startSupervisord(join(dir, 'sup'), [join(dir, 'httpagent.conf')]);
  });

  afterAll(async () => {
    await sup?.shutdown();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('supervisorctl stop leaves no step or light task running, and the agent exits by itself', async () => {
    await sys.waitFor('the agent online', async () => (await sys.platform('GET', '/v1/agents')).json.find((a: any) => a.id === AGENT_ID)?.state === 'online', 60_000);
    const jobId = await sys.submit({ task: 'stubborn', params: { pidfile: join(dir, 'step.pids') }, agent: AGENT_ID });
    const stepPids = await stubbornPids(join(dir, 'step.pids'));
    const light = runLight(port, AGENT_ID, join(dir, 'light.pids'));
    const lightPids = await stubbornPids(join(dir, 'light.pids'));
    // Each tree leads a group of its own, apart from the agent's: TERM to the agent's group spares them.
    const agentGroup = statOf(Number((await sup.ctl('pid', AGENT)).out.trim()))?.pgrp;
    expect(agentGroup).toBeGreaterThan(1);
    expect(stepPids.map((p) => statOf(p)?.pgrp)).toEqual([stepPids[0], stepPids[0]]);
    expect(lightPids.map((p) => statOf(p)?.pgrp)).toEqual([lightPids[0], lightPids[0]]);
    expect([stepPids[0], lightPids[0]]).not.toContain(agentGroup);

    const stopped = await sup.ctl('stop', AGENT);
    expect(stopped.out).toMatch(/stopped/);
    await waitGroupsGone(stepPids[0]!, lightPids[0]!);
    // The agent ended them and left by itself within stopwaitsecs: supervisord did not have to KILL it.
    expect(readFileSync(join(sup.dir, 'supervisord.log'), 'utf8')).toMatch(/stopped: httpagent-agent \(exit status 0\)/);
    expect(await light).toMatchObject({ status: 200, json: { signal: 'SIGKILL', timedOut: false } });
    await sys.waitFor('the job reported', async () => (await sys.job(jobId)).state === 'cancelled');
    expect((await sys.job(jobId)).error).toMatch(/shut down/);
  }, 120_000);
});

describe('a second signal', () => {
  it('exits at once and kills the groups of the running step and light task', async () => {
    const port = await freePort();
    const agent = await sys.startAgent('forced', { HTTPAGENT_LISTEN: `127.0.0.1:${port}`, HTTPAGENT_DRAIN_GRACE_SEC: '600', HTTPAGENT_RUN_TIMEOUT_SEC: '600' });
    await sys.submit({ task: 'stubborn', params: { pidfile: join(sys.tmp, 'forced-step.pids') }, agent: 'forced' });
    const stepPids = await stubbornPids(join(sys.tmp, 'forced-step.pids'));
    const light = runLight(port, 'forced', join(sys.tmp, 'forced-light.pids'));
    const lightPids = await stubbornPids(join(sys.tmp, 'forced-light.pids'));
    agent.proc.kill('SIGTERM');
    await agent.waitFor(/"to":"draining"/);
    agent.proc.kill('SIGINT');
    expect(await agent.exited()).toBe(1);
    await waitGroupsGone(stepPids[0]!, lightPids[0]!);
    // The light task's call ends: answered with the kill, or cut off as the agent leaves.
    const reply = await light;
    expect(reply instanceof Error || reply.json.signal === 'SIGKILL').toBe(true);
  }, 60_000);
});
