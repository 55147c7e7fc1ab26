// A real agent process and a real controller process: the agent claims and completes over the agent
// channel (a WebSocket) once the controller serves it, finds it again after the controller restarts,
// and works over HTTP alone, saying so once, with a controller that has the channel off.
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startJobSystem, type AgentHandle, type JobSystem } from '../helpers/job-system.js';

/** A series' value in the agent's /metrics (0 when absent). */
async function metric(agent: AgentHandle, series: string): Promise<number> {
  const res = await request(`${agent.url}/metrics`);
  const text = await res.body.text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

async function runJobs(sys: JobSystem, agent: AgentHandle, n: number): Promise<void> {
  const ids = await Promise.all(Array.from({ length: n }, (_, i) => sys.submit({ task: 'say', params: { text: `job ${i}` }, agent: agent.id })));
  for (const id of ids) expect((await sys.waitFinal(id)).state).toBe('succeeded');
}

describe('agent channel, real processes', () => {
  let sys: JobSystem;
  beforeAll(async () => {
    sys = await startJobSystem();
  });
  afterAll(async () => {
    await sys?.stop();
  });

  it('claims and completes over the channel, and over it again after the controller restarts', async () => {
    const agent = await sys.startAgent('ch-real', { HTTPAGENT_METRICS_PUBLIC: 'true' });
    await sys.waitFor('the channel to open', async () => (await metric(agent, 'httpagent_controller_channel_open')) === 1);
    const before = await metric(agent, 'httpagent_controller_calls_total{transport="channel"}');
    await runJobs(sys, agent, 5);
    // Every job's complete (and the claims between) went over it.
    expect(await metric(agent, 'httpagent_controller_calls_total{transport="channel"}')).toBeGreaterThanOrEqual(before + 5);

    await sys.controller.kill('SIGKILL');
    await sys.waitFor('the agent to see the channel gone', async () => (await metric(agent, 'httpagent_controller_channel_open')) === 0);
    await sys.startController();
    await sys.waitFor('the channel to open again', async () => (await metric(agent, 'httpagent_controller_channel_open')) === 1, 30_000);
    const again = await metric(agent, 'httpagent_controller_calls_total{transport="channel"}');
    await runJobs(sys, agent, 3);
    expect(await metric(agent, 'httpagent_controller_calls_total{transport="channel"}')).toBeGreaterThanOrEqual(again + 3);
    await agent.kill('SIGTERM');
  });
});

describe('agent channel off at the controller', () => {
  let sys: JobSystem;
  beforeAll(async () => {
    sys = await startJobSystem({ controllerEnv: { HTTPAGENT_AGENT_CHANNEL: 'false' } });
  });
  afterAll(async () => {
    await sys?.stop();
  });

  it('works over HTTP alone and says once that the channel was refused', async () => {
    const agent = await sys.startAgent('ch-http', { HTTPAGENT_METRICS_PUBLIC: 'true' });
    await runJobs(sys, agent, 5);
    expect(await metric(agent, 'httpagent_controller_channel_open')).toBe(0);
    expect(await metric(agent, 'httpagent_controller_calls_total{transport="channel"}')).toBe(0);
    expect(await metric(agent, 'httpagent_controller_calls_total{transport="http"}')).toBeGreaterThanOrEqual(5);
    await sys.waitFor('the refusal logged', async () => /agent channel refused or unreachable/.test(agent.output()));
    expect(agent.output().match(/agent channel refused or unreachable/g)).toHaveLength(1);
    await agent.kill('SIGTERM');
  });
});
