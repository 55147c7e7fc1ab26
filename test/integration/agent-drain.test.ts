// SIGTERM drains: the running job finishes and is reported, nothing new is claimed, the agent exits 0.
// A second signal exits at once and takes the step's process tree with it.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isAlive } from '../helpers/processes.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startJobSystem, type JobSystem } from '../helpers/job-system.js';

let sys: JobSystem;
beforeAll(async () => {
  sys = await startJobSystem({ leaseMs: 2000, longPollMs: 2000 });
});
afterAll(async () => sys?.stop());


describe('drain', () => {
  it('on SIGTERM finishes the running job, claims nothing new and exits 0', async () => {
    // One slot, taken by the job: no claim is in flight to bring the later job (one in flight would be
    // run, by design).
    const agent = await sys.startAgent('drainer', { HTTPAGENT_CONCURRENCY: '1' });
    // The job runs until the test opens its gate: it is certainly still running when the drain starts.
    const gate = join(sys.tmp, 'drainer.open');
    const id = await sys.submit({ task: 'gate', params: { open: gate }, agent: 'drainer' });
    await sys.waitFor('the job to run', async () => (await sys.job(id)).state === 'running');
    agent.proc.kill('SIGTERM');
    await agent.waitFor(/"to":"draining"/);
    // The agent heartbeats the state change at once, but the log line comes first.
    await sys.waitFor('the controller to show the drain', async () => (await sys.platform('GET', '/v1/agents')).json.find((a: any) => a.id === 'drainer')?.state === 'draining');
    const later = await sys.submit({ task: 'say', agent: 'drainer' });
    writeFileSync(gate, '');
    expect(await agent.exited()).toBe(0);
    expect(await sys.job(id)).toMatchObject({ state: 'succeeded', agent: 'drainer' });
    expect((await sys.log(id))).toContain('done\n');
    expect((await sys.job(later)).state).toBe('queued');
  });

  it('stops a job still running when the grace is over, and reports it cancelled', async () => {
    const agent = await sys.startAgent('short-grace', { HTTPAGENT_DRAIN_GRACE_SEC: '1', HTTPAGENT_CLAIM_WAIT_MS: '1000' });
    const id = await sys.submit({ task: 'ticker', params: { seconds: '30' }, agent: 'short-grace' });
    await sys.waitFor('the job to run', async () => (await sys.job(id)).state === 'running');
    agent.proc.kill('SIGTERM');
    expect(await agent.exited()).toBe(0);
    const job = await sys.job(id);
    expect(job.state).toBe('cancelled');
    expect(job.error).toMatch(/shut down/);
  });

  it('a second signal exits at once and kills the step tree', async () => {
    const agent = await sys.startAgent('impatient');
    const pidfile = join(sys.tmp, 'impatient.pids');
    await sys.submit({ task: 'stubborn', params: { pidfile }, agent: 'impatient' });
    await sys.waitFor('the tree to start', async () => existsSync(pidfile) && readFileSync(pidfile, 'utf8').trim().split(' ').length === 2);
    const pids = readFileSync(pidfile, 'utf8').trim().split(' ').map(Number);
    agent.proc.kill('SIGTERM');
    await agent.waitFor(/"to":"draining"/);
    agent.proc.kill('SIGINT');
    expect(await agent.exited()).toBe(1);
    await sys.waitFor('the tree to die', async () => pids.every((p) => !isAlive(p)), 5_000);
  });
});
