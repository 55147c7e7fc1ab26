// Heavy jobs end to end on real processes: steps in order, logs, exit codes, params, cancel, timeouts.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isAlive } from '../helpers/processes.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startJobSystem, type AgentHandle, type JobSystem } from '../helpers/job-system.js';

let sys: JobSystem;
let agent: AgentHandle;

beforeAll(async () => {
  sys = await startJobSystem({ leaseMs: 2000 });
  agent = await sys.startAgent('runner-1');
});
afterAll(async () => sys?.stop());


describe('agent job loop', () => {
  it('runs a 3-step job in order; its log holds each step\'s output in order', async () => {
    const id = await sys.submit({
      steps: [
        { task: 'say', params: { text: 'first' } },
        { task: 'say', params: { text: 'second', sleep: '0.2' } },
        { task: 'say', params: { text: 'third' } },
      ],
    });
    const job = await sys.waitFinal(id);
    expect(job.state).toBe('succeeded');
    expect(job.agent).toBe('runner-1');
    expect(job.steps.map((s: any) => [s.state, s.exitCode])).toEqual([
      ['succeeded', 0],
      ['succeeded', 0],
      ['succeeded', 0],
    ]);
    const log = await sys.log(id);
    const at = (s: string) => log.indexOf(s);
    expect(at('out: first (step 0')).toBeGreaterThanOrEqual(0);
    expect(at('err: first')).toBeGreaterThan(at('==> step 1/3 say'));
    expect(at('out: second (step 1')).toBeGreaterThan(at('err: first'));
    expect(at('out: third (step 2')).toBeGreaterThan(at('err: second'));
    expect(log).toContain(`of job ${id}, attempt 1`);
    expect(Buffer.byteLength(log)).toBe(job.logBytes);
  });

  it('a failed step fails the job with its exit code and skips the rest', async () => {
    const id = await sys.submit({ steps: [{ task: 'say' }, { task: 'say', params: { exit: '7' } }, { task: 'say' }] });
    const job = await sys.waitFinal(id);
    expect(job.state).toBe('failed');
    expect(job.steps.map((s: any) => [s.state, s.exitCode])).toEqual([
      ['succeeded', 0],
      ['failed', 7],
      ['skipped', null],
    ]);
    expect(job.error).toMatch(/exited with 7/);
  });

  it('an unknown task fails its step without running anything', async () => {
    const id = await sys.submit({ task: 'not-a-task' });
    const job = await sys.waitFinal(id);
    expect(job.state).toBe('failed');
    expect(job.steps[0].exitCode).toBeNull();
    expect(await sys.log(id)).toContain('not-a-task');
  });

  it('params with shell metacharacters and newlines arrive literally', async () => {
    const value = `$(touch /tmp/pwned) ; rm -rf x | \`id\` "dq" 'sq' \\ back\nline two\n\ttab * ? [a]`;
    const out = join(sys.tmp, 'params-out');
    const id = await sys.submit({ task: 'echo-params', params: { out, value } });
    expect((await sys.waitFinal(id)).state).toBe('succeeded');
    expect(readFileSync(`${out}.env`, 'utf8')).toBe(value);
    expect(JSON.parse(readFileSync(`${out}.stdin`, 'utf8'))).toEqual({ out, value });
  });

  it('cancel kills a process tree whose child ignores SIGTERM', async () => {
    const pidfile = join(sys.tmp, 'stubborn.pids');
    const id = await sys.submit({ task: 'stubborn', params: { pidfile } });
    await sys.waitFor('the tree to start', async () => existsSync(pidfile) && readFileSync(pidfile, 'utf8').trim().split(' ').length === 2);
    const pids = readFileSync(pidfile, 'utf8').trim().split(' ').map(Number);
    expect(pids.every(isAlive)).toBe(true);
    const r = await sys.platform('POST', `/v1/jobs/${id}/cancel`, {});
    expect(r.status).toBe(200);
    const job = await sys.waitFinal(id);
    expect(job.state).toBe('cancelled');
    expect(job.steps[0].state).toBe('cancelled');
    await sys.waitFor('the tree to die', async () => pids.every((p) => !isAlive(p)));
  });

  it('a job timeout kills the tree and fails the job', async () => {
    const pidfile = join(sys.tmp, 'timeout.pids');
    const id = await sys.submit({ task: 'stubborn', params: { pidfile }, timeoutSec: 1 });
    const job = await sys.waitFinal(id);
    expect(job.state).toBe('failed');
    expect(job.error).toMatch(/timed out/);
    const pids = readFileSync(pidfile, 'utf8').trim().split(' ').map(Number);
    await sys.waitFor('the tree to die', async () => pids.every((p) => !isAlive(p)));
  });

  it('forwards a job through its own POST /v1/jobs and the agent runs it', async () => {
    const res = await sys.agentPort(agent, 'POST', '/v1/jobs', { task: 'say', params: { text: 'via port' } });
    expect(res.status).toBe(202);
    const { id } = res.json as { id: string };
    const job = await sys.waitFinal(id);
    expect(job).toMatchObject({ state: 'succeeded', agent: 'runner-1' });
    const health = await sys.agentPort(agent, 'GET', '/healthz');
    expect(health.json).toMatchObject({ controllerReachable: true, draining: false, runningJobs: 0 });
  });
});
