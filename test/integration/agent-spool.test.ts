// The controller is down when a job ends: the result and the log tail wait in the agent's spool and
// arrive once it is back, also when the agent itself restarts in between.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isAlive } from '../helpers/processes.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startJobSystem, type JobSystem } from '../helpers/job-system.js';

let sys: JobSystem;
// A long lease: the controller is away while processes restart (tens of seconds on a loaded machine, seen
// in a full run beside other work), and a lease that lapsed meanwhile would rightly re-deliver the job
// instead of taking the late result. Nothing here waits for a lease to lapse.
beforeAll(async () => {
  sys = await startJobSystem({ leaseMs: 120_000, longPollMs: 2000 });
});
afterAll(async () => sys?.stop());

/**
 * Results spooled whole. The spool writes result.json in place (a torn one reads as absent, see
 * result-spool.ts), so the file exists before its bytes do: seen beside stress-ng, the test killed the
 * agent between the two, and its successor rightly found an interrupted attempt instead of a result.
 */
const spooledResults = (stateDir: string) => {
  const root = join(stateDir, 'jobs');
  if (!existsSync(root)) return 0;
  return readdirSync(root).filter((d) => {
    try {
      JSON.parse(readFileSync(join(root, d, 'result.json'), 'utf8'));
      return true;
    } catch {
      return false;
    }
  }).length;
};

/** A job (see test/fixtures/tasks/gate) that ends only once the controller is gone. */
async function runWhileControllerDies(agentId: string) {
  const gate = join(sys.tmp, `${agentId}.open`);
  const id = await sys.submit({ task: 'gate', params: { open: gate }, agent: agentId });
  await sys.waitFor('the job to run', async () => (await sys.job(id)).state === 'running');
  await sys.controller.kill('SIGKILL');
  writeFileSync(gate, '');
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
    expect(log).toContain('waiting\ndone\n');
    expect(log).toContain('==> step 1/1 gate succeeded');
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
    expect(log).toContain('waiting\ndone\n');
    expect(Buffer.byteLength(log)).toBe(job.logBytes);
    await again.waitFor(/delivering a result spooled by an earlier run/);
    // The job is final once the controller took the result; the agent removes its spool only when the
    // reply reaches it, a moment later (seen in CI: still 1 right after the job turned final).
    await sys.waitFor('the spool to empty', async () => spooledResults(again.stateDir) === 0);
  });

  it('a restarted agent stops the step tree its killed predecessor left running', async () => {
    const agent = await sys.startAgent('crasher');
    const pidfile = join(sys.tmp, 'crasher.pids');
    const id = await sys.submit({ task: 'stubborn', params: { pidfile }, agent: 'crasher' });
    await sys.waitFor('the tree to start', async () => existsSync(pidfile) && readFileSync(pidfile, 'utf8').trim().split(' ').length === 2);
    const pids = readFileSync(pidfile, 'utf8').trim().split(' ').map(Number);
    await agent.kill('SIGKILL');
    // Its own process group outlives the agent...
    expect(pids.every(isAlive)).toBe(true);
    const again = await sys.startAgent('crasher');
    // ...until the next start finds the spool of the interrupted attempt.
    await again.waitFor(/stopping a step left running by an earlier run/);
    await sys.waitFor('the tree to die', async () => pids.every((p) => !isAlive(p)));
    await sys.waitFor('the spool to empty', async () => readdirSync(join(again.stateDir, 'jobs')).length === 0);
    // Nobody may run the re-delivered attempt of this endless task after the test.
    await sys.platform('POST', `/v1/jobs/${id}/cancel`, {});
    expect(await again.kill('SIGTERM')).toBe(0);
  });
});

