// Agents that die or freeze mid-job: the job is re-delivered under a new epoch, and whatever the old
// attempt says afterwards is refused (409), so the result that counts is the live agent's.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startJobSystem, type JobSystem } from '../helpers/job-system.js';

let sys: JobSystem;
beforeAll(async () => {
  sys = await startJobSystem({ leaseMs: 2000 });
});
afterAll(async () => sys?.stop());

/** A job that runs until the test opens its gate (see test/fixtures/tasks/gate). */
const gated = (name: string) => {
  const open = join(sys.tmp, `${name}.open`);
  return { params: { open }, open: () => writeFileSync(open, '') };
};

const running = (id: string, agent: string) =>
  sys.waitFor(`job ${id} running on ${agent}`, async () => {
    const j = await sys.job(id);
    return j.state === 'running' && j.agent === agent && j.steps[0].state === 'running' ? j : undefined;
  });

describe('lease loss and fencing', () => {
  it('kill -9 of an agent mid-job: re-delivered to another agent, and the dead attempt gets 409', async () => {
    const a = await sys.startAgent('doomed', { HTTPAGENT_LABELS: 'pool=failover', HTTPAGENT_CONCURRENCY: '1' });
    const gate = gated('failover');
    const id = await sys.submit({ task: 'gate', params: gate.params, labels: { pool: 'failover' }, maxAttempts: 3 });
    const first = await running(id, 'doomed');
    await a.kill('SIGKILL');
    gate.open(); // the dead attempt's orphaned step ends too
    await sys.startAgent('rescuer', { HTTPAGENT_LABELS: 'pool=failover' });
    const job = await sys.waitFinal(id);
    expect(job).toMatchObject({ state: 'succeeded', agent: 'rescuer', attempt: first.attempt + 1 });
    expect(await sys.log(id)).toContain(`attempt ${first.attempt + 1}`);

    // The dead attempt's late reports: its epoch is the one before the rescuer's.
    const staleEpoch = 1;
    const log = await sys.agentApi('POST', `/v1/agent/jobs/${id}/log?epoch=${staleEpoch}&offset=0`, Buffer.from('late\n'), a);
    expect(log.status).toBe(409);
    expect(log.json.error.code).toBe('STALE_EPOCH');
    const done = await sys.agentApi('POST', `/v1/agent/jobs/${id}/complete`, {
      epoch: staleEpoch,
      outcome: 'failed',
      error: 'late',
      steps: [{ state: 'failed', exitCode: 1, startedAt: null, finishedAt: null }],
      logBytes: 0,
    }, a);
    expect(done.status).toBe(409);
    expect(done.json.error.code).toBe('STALE_EPOCH');
    expect((await sys.job(id)).state).toBe('succeeded');
  });

  it('an agent paused past its lease and resumed: its result is refused, the other agent\'s stands', async () => {
    // One slot: with a free one its long-poll would be open while it sleeps, and the controller would
    // hand the re-delivered job to that frozen socket (a lease later it goes to the waker, attempt 3).
    const sleeper = await sys.startAgent('sleeper', { HTTPAGENT_LABELS: 'pool=pause', HTTPAGENT_CONCURRENCY: '1' });
    const gate = gated('pause');
    const id = await sys.submit({ task: 'gate', params: gate.params, labels: { pool: 'pause' } });
    await running(id, 'sleeper');
    sleeper.proc.kill('SIGSTOP');
    gate.open(); // the frozen agent cannot report it; the waker's attempt finishes at once
    try {
      await sys.startAgent('waker', { HTTPAGENT_LABELS: 'pool=pause' });
      const job = await sys.waitFinal(id);
      expect(job).toMatchObject({ state: 'succeeded', agent: 'waker', attempt: 2 });
    } finally {
      sleeper.proc.kill('SIGCONT');
    }
    // Resumed, the sleeper learns its lease is gone (heartbeat 'stale' or 409 on its result) and drops it.
    await sleeper.waitFor(/job dropped: its lease moved|result refused: another attempt owns the job/);
    const job = await sys.job(id);
    expect(job).toMatchObject({ state: 'succeeded', agent: 'waker', attempt: 2 });
    // Regression: a job dropped on lease loss kept its slot, and an agent that lost a few stopped claiming.
    const next = await sys.submit({ task: 'say', agent: 'sleeper' });
    expect(await sys.waitFinal(next)).toMatchObject({ state: 'succeeded', agent: 'sleeper' });
  });

  it('an agent the controller forgot (its registry key lost) registers again and keeps its job', async () => {
    const agent = await sys.startAgent('forgotten', { HTTPAGENT_CONCURRENCY: '1' });
    const gate = gated('forgotten');
    const id = await sys.submit({ task: 'gate', params: gate.params, agent: 'forgotten' });
    await running(id, 'forgotten');
    const redis = sys.redis.client();
    try {
      const [key] = await redis.keys('*agent:forgotten');
      expect(key).toBeDefined();
      await redis.del(key!);
    } finally {
      redis.disconnect();
    }
    await agent.waitFor(/registering again/);
    gate.open();
    const job = await sys.waitFinal(id);
    expect(job).toMatchObject({ state: 'succeeded', agent: 'forgotten', attempt: 1 });
    const agents = await sys.platform('GET', '/v1/agents');
    expect(agents.json.map((a: any) => a.id)).toContain('forgotten');
  });
});
