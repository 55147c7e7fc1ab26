// The step runner against real child processes from test/fixtures/tasks.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runStep, type RunStepOptions } from '../../src/agent/jobs/step-runner.js';
import { sameUserTasks } from '../helpers/task-launcher.js';
import { isAlive } from '../helpers/processes.js';
import { waitUntil } from '../helpers/wait.js';

const tasksDir = join(import.meta.dirname, '../fixtures/tasks');
const tmp = mkdtempSync(join(tmpdir(), 'httpagent-steps-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function opts(over: Partial<RunStepOptions> & Pick<RunStepOptions, 'step'>): RunStepOptions & { out: () => string } {
  const chunks: Buffer[] = [];
  return {
    tasks: sameUserTasks(tasksDir),
    index: 0,
    jobId: 'job-1',
    attempt: 2,
    timeoutMs: 10_000,
    timeoutError: 'timed out',
    killGraceMs: 300,
    signal: new AbortController().signal,
    output: (b) => {
      chunks.push(b);
      return undefined;
    },
    out: () => Buffer.concat(chunks).toString(),
    ...over,
  };
}

/** The step's tree is gone: SIGKILL is delivered at once, the kernel takes a moment to tear it down. */
const treeDies = (pids: number[]) => waitUntil(`pids ${pids.join(', ')} to die`, () => pids.every((pid) => !isAlive(pid)));

describe('runStep', () => {
  it('captures stdout and stderr and passes the job env', async () => {
    const o = opts({ step: { task: 'say', params: { text: 'hello' } }, index: 1 });
    const r = await runStep(o);
    expect(r.state).toBe('succeeded');
    expect(r.exitCode).toBe(0);
    expect(o.out()).toContain('out: hello (step 1 of job job-1, attempt 2)');
    expect(o.out()).toContain('err: hello');
  });

  it('reports a non-zero exit as failed with its code', async () => {
    const r = await runStep(opts({ step: { task: 'say', params: { exit: '3' } } }));
    expect(r).toMatchObject({ state: 'failed', exitCode: 3 });
    expect(r.error).toMatch(/exited with 3/);
  });

  it('a task file that cannot be executed fails the step (no hang, no crash)', async () => {
    const dir = join(tmp, 'bad-tasks');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'bad-interpreter'), '#!/nonexistent/interpreter\nexit 0\n', { mode: 0o755 });
    const r = await runStep(opts({ tasks: sameUserTasks(dir), step: { task: 'bad-interpreter' } }));
    expect(r).toMatchObject({ state: 'failed', exitCode: null });
    expect(r.error).toMatch(/failed to run/);
  });

  it('refuses a task that is not in the tasks directory', async () => {
    const o = opts({ step: { task: 'no-such-task' } });
    const r = await runStep(o);
    expect(r).toMatchObject({ state: 'failed', exitCode: null });
    expect(o.out()).toContain('no-such-task');
  });

  it('a timeout kills the whole tree, children that ignore SIGTERM included', async () => {
    const pidfile = join(tmp, 'timeout.pids');
    const r = await runStep(opts({ step: { task: 'stubborn', params: { pidfile } }, timeoutMs: 500 }));
    expect(r.state).toBe('failed');
    expect(r.error).toBe('timed out');
    expect(r.signal).toBe('SIGKILL');
    const pids = readFileSync(pidfile, 'utf8').trim().split(' ').map(Number);
    expect(pids).toHaveLength(2);
    await treeDies(pids);
  });

  it('an abort (cancel) kills the tree and reports cancelled', async () => {
    const pidfile = join(tmp, 'cancel.pids');
    const ac = new AbortController();
    const running = runStep(opts({ step: { task: 'stubborn', params: { pidfile } }, signal: ac.signal }));
    // A missing pid file reads as "not yet".
    await waitUntil('both processes of the tree to start', () => readFileSync(pidfile, 'utf8').trim().split(' ').length === 2);
    ac.abort('cancel');
    const r = await running;
    expect(r.state).toBe('cancelled');
    await treeDies(readFileSync(pidfile, 'utf8').trim().split(' ').map(Number));
  });

  it('params with shell metacharacters and newlines arrive literally, in env and on stdin', async () => {
    const value = `a b; rm -rf / $(echo no) \`x\` "q" 'q' \n second line\n`;
    const out = join(tmp, 'params');
    const r = await runStep(opts({ step: { task: 'echo-params', params: { out, value } } }));
    expect(r.state).toBe('succeeded');
    expect(readFileSync(`${out}.env`, 'utf8')).toBe(value);
    expect(JSON.parse(readFileSync(`${out}.stdin`, 'utf8'))).toEqual({ out, value });
  });
});
