// The controller is down when a job ends: the result and the log tail wait in the agent's spool and
// arrive once it is back, also when the agent itself restarts in between.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startJobSystem, type JobSystem } from '../helpers/job-system.js';

let sys: JobSystem;
// A long lease: the controller is away for seconds, and a lease that lapsed meanwhile would rightly
// re-deliver the job instead of taking the late result.
beforeAll(async () => {
  sys = await startJobSystem({ leaseMs: 30_000, longPollMs: 2000 });
});
afterAll(async () => sys?.stop());

const spooledResults = (stateDir: string) => {
  const root = join(stateDir, 'jobs');
  if (!existsSync(root)) return 0;
  return readdirSync(root).filter((d) => existsSync(join(root, d, 'result.json'))).length;
};

async function runWhileControllerDies(agentId: string) {
  const id = await sys.submit({ task: 'ticker', params: { seconds: '2' }, agent: agentId });
  await sys.waitFor('the job to run', async () => (await sys.job(id)).state === 'running');
  await sys.controller.kill('SIGKILL');
  return id;
}

describe('result spool', () => {
  it('delivers the result and the log tail once the controller returns', async () => {
    const agent = await sys.startAgent('spooler');
    const id = await runWhileControllerDies('spooler');
    await sys.waitFor('the result to be spooled', async () => spooledResults(agent.stateDir) === 1);
    await sys.startController();
    const job = await sys.waitFinal(id);
    expect(job.state).toBe('succeeded');
    const log = await sys.log(id);
    expect(log).toContain('tick 19\ndone\n');
    expect(log).toContain('==> step 1/1 ticker succeeded');
    expect(Buffer.byteLength(log)).toBe(job.logBytes);
    await sys.waitFor('the spool to empty', async () => spooledResults(agent.stateDir) === 0);
    await agent.kill('SIGKILL');
  });

  it('delivers a spooled result after an agent restart', async () => {
    const agent = await sys.startAgent('restarter');
    const id = await runWhileControllerDies('restarter');
    await sys.waitFor('the result to be spooled', async () => spooledResults(agent.stateDir) === 1);
    // The agent dies too, with the result on disk only.
    await agent.kill('SIGKILL');
    await sys.startController();
    expect((await sys.job(id)).state).toBe('running');
    const again = await sys.startAgent('restarter');
    const job = await sys.waitFinal(id);
    expect(job).toMatchObject({ state: 'succeeded', attempt: 1 });
    const log = await sys.log(id);
    expect(log).toContain('tick 19\ndone\n');
    expect(Buffer.byteLength(log)).toBe(job.logBytes);
    await again.waitFor(/delivering a result spooled by an earlier run/);
    expect(spooledResults(again.stateDir)).toBe(0);
  });
});
