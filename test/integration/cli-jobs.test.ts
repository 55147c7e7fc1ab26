// The console's job commands against a real controller and agent, run as the real binary: exit
// statuses per outcome, what --wait prints on and off a terminal, several steps, job files, list
// filters and paging, retry, the reason a job waits, and a console pointed at an agent's port.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startJobSystem, type AgentHandle, type JobSystem } from '../helpers/job-system.js';
import { binJs, repoRoot, spawnHttpagent, track, type Spawned } from '../helpers/processes.js';

let sys: JobSystem;
let agent: AgentHandle;
let tmp: string;
const groups: Spawned[] = [];

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'httpagent-cli-jobs-'));
  // A lease long enough that a loaded machine does not re-deliver jobs under the tests' feet.
  sys = await startJobSystem({ leaseMs: 6000 });
  agent = await sys.startAgent('cli-jobs-agent', { HTTPAGENT_LABELS: 'role=cli' });
});
afterAll(async () => {
  for (const g of groups) if (g.proc.exitCode === null && g.proc.pid) process.kill(-g.proc.pid, 'SIGKILL');
  await sys?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

interface Run {
  code: number | string;
  /** stdout and stderr together, in order. */
  out: string;
}

async function cli(args: string[], env: Record<string, string> = sys.cliEnv()): Promise<Run> {
  const p = spawnHttpagent(args, env);
  const code = await p.exited();
  return { code, out: p.output() };
}

/** stdout and stderr apart, for checking which stream carries what. */
async function cliSplit(args: string[], env: Record<string, string> = sys.cliEnv()): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [binJs, ...args], { cwd: repoRoot, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  groups.push(track(proc));
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
  return { code, stdout, stderr };
}

/** The console under a pseudo-terminal (util-linux `script`): what a person at a terminal sees. */
async function onTerminal(args: string[], env: Record<string, string>): Promise<{ code: number | null; screen: string }> {
  const command = [process.execPath, binJs, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  const proc = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', TERM: 'xterm-256color', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  groups.push(track(proc));
  let screen = '';
  proc.stdout.on('data', (d: Buffer) => (screen += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (screen += d.toString()));
  const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
  return { code, screen };
}

const idOf = (out: string) => out.trim().split('\n').pop()!.split(' ')[0]!;

describe('exit statuses mirror the outcome', () => {
  it('submit --wait, job wait and job logs --follow: 0 succeeded, 1 failed, 3 cancelled', async () => {
    const [ok, bad, long] = await Promise.all([
      cli(['job', 'submit', 'say', '--param', 'text=fine', '--label', 'role=cli', '--wait']),
      cli(['job', 'submit', 'say', '--param', 'text=broken', '--param', 'exit=9', '--agent', 'cli-jobs-agent', '--wait']),
      cli(['job', 'submit', 'ticker', '--param', 'seconds=60', '--label', 'role=cli']),
    ]);
    expect([ok.code, bad.code, long.code]).toEqual([0, 1, 0]);
    const okId = idOf(ok.out);
    const badId = idOf(bad.out);
    const longId = idOf(long.out);
    await sys.waitFor('the long job to run', async () => (await sys.job(longId)).state === 'running');
    const cancelled = await cli(['job', 'cancel', longId]);
    expect(cancelled.code).toBe(0);

    const [waitOk, waitBad, waitBoth, waitCancelled, followBad, followCancelled] = await Promise.all([
      cli(['job', 'wait', okId]),
      cli(['job', 'wait', badId]),
      cli(['job', 'wait', okId, badId]),
      cli(['job', 'wait', longId]),
      cliSplit(['job', 'logs', badId, '--follow']),
      cli(['job', 'logs', longId, '--follow']),
    ]);
    expect(waitOk.code).toBe(0);
    expect(waitOk.out).toMatch(new RegExp(`^${okId} succeeded$`, 'm'));
    expect(waitBad.code).toBe(1);
    expect(waitBoth.code).toBe(1);
    expect(waitCancelled.code).toBe(3);
    expect(followBad.code).toBe(1);
    expect(followBad.stdout).toContain('out: broken');
    expect(followBad.stderr).toMatch(/job \S+ failed/);
    expect(followCancelled.code).toBe(3);
  }, 180_000);
});

describe('Ctrl-C while watching', () => {
  it('stops watching, not the job: exit 130 and the command that picks it up again', async () => {
    const watching = spawnHttpagent(['job', 'submit', 'ticker', '--param', 'seconds=60', '--label', 'role=cli', '--wait'], sys.cliEnv());
    const line = await watching.waitFor(/job (\S+) running/, 60_000);
    const id = line.split(' ')[1]!;
    watching.proc.kill('SIGINT');
    expect(await watching.exited()).toBe(130);
    expect(watching.output()).toContain(`stopped watching; the job goes on: httpagent job wait ${id}`);
    expect((await sys.job(id)).state).toBe('running');
    await sys.platform('POST', `/v1/jobs/${id}/cancel`);
  }, 120_000);
});

describe('--wait off a terminal', () => {
  it('prints a line per change, not per poll: a 10 s job costs a handful of lines besides its log', async () => {
    const run = await cliSplit(['job', 'submit', 'ticker', '--param', 'seconds=10', '--label', 'role=cli', '--wait']);
    expect(run.code).toBe(0);
    const id = run.stdout.trim().split(' ')[0]!;
    expect(run.stdout.trim()).toBe(`${id} succeeded`);
    const log = (await sys.log(id)).split('\n').filter(Boolean);
    const lines = run.stderr.split('\n').filter(Boolean);
    const logLines = new Set(log);
    const others = lines.filter((l) => !logLines.has(l));
    expect(log).toContain('tick 99');
    // Every log line came through, in order.
    expect(lines.filter((l) => logLines.has(l))).toEqual(log);
    expect(others.length).toBeLessThanOrEqual(12);
    expect(others.at(-1)).toMatch(new RegExp(`^job ${id} succeeded in \\d`));
    // Never a repaint: no carriage return, no escape sequence.
    expect(run.stderr).not.toMatch(/[\r\x1b]/);
  }, 120_000);
});

describe('--wait on a terminal', () => {
  it('redraws one live status line with the log above it, in colour; NO_COLOR turns the colour off', async () => {
    const args = ['job', 'submit', 'ticker', '--param', 'seconds=2', '--label', 'role=cli', '--wait'];
    const [coloured, plain] = await Promise.all([onTerminal(args, sys.cliEnv()), onTerminal(args, { ...sys.cliEnv(), NO_COLOR: '1' })]);
    for (const r of [coloured, plain]) {
      expect(r.code, r.screen).toBe(0);
      // The status line is redrawn in place: carriage return and erase-line.
      expect(r.screen).toContain('\r\x1b[2K');
      expect(r.screen).toMatch(/tick 19\r?\n/);
      expect(r.screen).toMatch(/step 1\/1 ticker · on cli-jobs-agent/);
    }
    expect(coloured.screen).toMatch(/\x1b\[32msucceeded\x1b\[39m/);
    expect(plain.screen).not.toMatch(/\x1b\[3\dm/);
    expect(plain.screen).toMatch(/job \S+ succeeded in/);
  }, 120_000);
});

describe('what to run', () => {
  it('several steps with --step, a whole job with --file (numbers in params), refusals naming the field', async () => {
    const file = join(tmp, 'job.yaml');
    writeFileSync(file, 'steps:\n  - task: say\n    params: { text: from-file, exit: 0, sleep: 0 }\n  - task: say\n    params: { text: second, sleep: 0.1 }\nlabels: { role: cli }\n');
    const badFile = join(tmp, 'bad.json');
    writeFileSync(badFile, JSON.stringify({ task: 'say', prioirty: 3 }));
    const [steps, fromFile, refused, both] = await Promise.all([
      cliSplit(['job', 'submit', '--step', 'say:text=one', '--step', 'say:text=two,three', '--label', 'role=cli', '--wait', '--json']),
      cliSplit(['job', 'submit', '--file', file, '--wait']),
      cli(['job', 'submit', '--file', badFile]),
      cli(['job', 'submit', 'say', '--step', 'say']),
    ]);
    expect(steps.code).toBe(0);
    const job = JSON.parse(steps.stdout);
    expect(job.steps.map((s: { task: string; state: string }) => [s.task, s.state])).toEqual([['say', 'succeeded'], ['say', 'succeeded']]);
    expect(steps.stderr).toContain('out: one');
    // A comma not followed by another name= stays in the value.
    expect(steps.stderr).toContain('out: two,three');
    expect(fromFile.code).toBe(0);
    expect(fromFile.stderr).toContain('out: from-file');
    expect(fromFile.stderr).toContain('out: second');
    expect(refused.code).toBe(2);
    expect(refused.out).toMatch(/unknown field "prioirty"/);
    expect(both.code).toBe(2);
  }, 120_000);
});

describe('job list', () => {
  it('filters on the controller (state, label, task, agent, since) and pages with a cursor', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await sys.submit({ task: 'say', params: { text: `list-${i}` }, labels: { role: 'list-only' } }));
    const other = await sys.submit({ task: 'noop', agent: 'nobody-here' });
    const all = await cliSplit(['job', 'list', '--label', 'role=list-only', '--since', '1h', '--json']);
    expect(all.code).toBe(0);
    expect(JSON.parse(all.stdout).jobs.map((j: { id: string }) => j.id)).toEqual([...ids].reverse());

    const first = await cliSplit(['job', 'list', '--label', 'role=list-only', '--limit', '2', '--json']);
    const page1 = JSON.parse(first.stdout);
    expect(page1.jobs).toHaveLength(2);
    expect(page1.nextCursor).toMatch(/^\d+\./);
    const seen = page1.jobs.map((j: { id: string }) => j.id);
    let cursor: string | null = page1.nextCursor;
    while (cursor) {
      const next = JSON.parse((await cliSplit(['job', 'list', '--label', 'role=list-only', '--limit', '2', '--cursor', cursor, '--json'])).stdout);
      seen.push(...next.jobs.map((j: { id: string }) => j.id));
      cursor = next.nextCursor;
    }
    expect(seen).toEqual([...ids].reverse());

    const [table, byAgent, queued] = await Promise.all([
      cliSplit(['job', 'list', '--task', 'noop', '--agent', 'nobody-here']),
      cliSplit(['job', 'list', '--agent', 'nobody-here', '--json']),
      cliSplit(['job', 'list', '--state', 'queued', '--label', 'role=list-only', '--json']),
    ]);
    expect(table.stdout).toMatch(/^ID\s+STATE\s+STEPS\s+TARGET/);
    expect(table.stdout).toContain(other);
    expect(JSON.parse(byAgent.stdout).jobs.map((j: { id: string }) => j.id)).toEqual([other]);
    expect(JSON.parse(queued.stdout).jobs.every((j: { state: string }) => j.state === 'queued')).toBe(true);
  }, 120_000);
});

describe('job retry', () => {
  it('queues a finished job again as a new job (retryOf), and refuses one still queued', async () => {
    const failed = await sys.submit({ task: 'say', params: { text: 'again', exit: '4' }, labels: { role: 'cli' } });
    await sys.waitFinal(failed);
    const queued = await sys.submit({ task: 'noop', agent: 'nobody-here' });
    const [retried, refused] = await Promise.all([cliSplit(['job', 'retry', failed, '--wait', '--json']), cli(['job', 'retry', queued])]);
    expect(retried.code).toBe(1);
    const job = JSON.parse(retried.stdout);
    expect(job.id).not.toBe(failed);
    expect(job).toMatchObject({ retryOf: failed, state: 'failed', target: { labels: { role: 'cli' } } });
    expect(retried.stderr).toContain('out: again');
    expect(refused.code).toBe(1);
    expect(refused.out).toContain('JOB_NOT_FINAL');
  }, 120_000);
});

describe('a job nobody can take says why', () => {
  it('no agent with the labels, no such agent, and only agents that went away', async () => {
    const gone = await sys.startAgent('cli-gone-agent', { HTTPAGENT_LABELS: 'role=gone' });
    // Registered first: a drain that overtakes the registration leaves the registry saying online.
    await gone.waitFor(/"registered with the controller"/, 60_000);
    expect(await gone.kill('SIGTERM')).toBe(0);
    const [labels, id, offline] = await Promise.all([
      cliSplit(['job', 'submit', 'noop', '--label', 'role=nobody']),
      cliSplit(['job', 'submit', 'noop', '--agent', 'ghost']),
      cliSplit(['job', 'submit', 'noop', '--label', 'role=gone']),
    ]);
    for (const r of [labels, id, offline]) expect(r.code).toBe(0);
    expect(labels.stderr).toMatch(/waits: no registered agent has the labels role=nobody \(NO_MATCHING_AGENT\)/);
    expect(id.stderr).toMatch(/waits: no agent "ghost" is registered .*\(NO_MATCHING_AGENT\)/);
    expect(offline.stderr).toMatch(/waits: every agent that can take it is offline or draining: cli-gone-agent .*\(AGENT_OFFLINE\)/);
    const status = await cli(['job', 'status', labels.stdout.trim()]);
    expect(status.out).toMatch(/waiting\s+no registered agent has the labels role=nobody \(NO_MATCHING_AGENT\)/);
    // A job that some online agent can take carries no reason.
    const fine = await sys.platform('POST', '/v1/jobs', { task: 'noop', labels: { role: 'cli' } });
    expect(fine.json.waiting).toBeUndefined();
  }, 120_000);
});

describe("the console pointed at an agent's port", () => {
  it('says this is an agent, not a controller, and queues nothing', async () => {
    const listen = /"listen":"(http:\/\/[^"]+)"/.exec(agent.output())?.[1];
    expect(listen).toBeDefined();
    const before = (await sys.platform('GET', '/v1/jobs?agent=cli-jobs-agent&limit=1000')).json.length;
    const env = { ...sys.cliEnv(), HTTPAGENT_CONTROLLER_URL: listen! };
    const [submit, agents] = await Promise.all([cli(['job', 'submit', 'noop'], env), cli(['agents'], env)]);
    for (const r of [submit, agents]) {
      expect(r.code).toBe(2);
      expect(r.out).toContain("is an httpagent agent's port, not the controller");
    }
    expect((await sys.platform('GET', '/v1/jobs?agent=cli-jobs-agent&limit=1000')).json.length).toBe(before);
  }, 120_000);
});

describe('--quiet and --json', () => {
  it('--quiet prints only "ID STATE"; --json prints the reply', async () => {
    const [quiet, json] = await Promise.all([
      cliSplit(['job', 'submit', 'say', '--param', 'text=q', '--label', 'role=cli', '--wait', '--quiet']),
      cliSplit(['job', 'submit', 'say', '--label', 'role=cli', '--json']),
    ]);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
    expect(quiet.stdout).toMatch(/^\S+ succeeded\n$/);
    expect(JSON.parse(json.stdout)).toMatchObject({ state: 'queued' });
  }, 120_000);
});
