// The console against a real controller and agent: submit --wait, status, logs, cancel, agents, and
// the exit codes of its errors; token ID and agents remove ID.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { spawnHttpagent } from '../helpers/processes.js';
import { startJobSystem, type AgentHandle, type JobSystem } from '../helpers/job-system.js';

let sys: JobSystem;
let cliAgent: AgentHandle;
beforeAll(async () => {
  sys = await startJobSystem({ leaseMs: 2000 });
  cliAgent = await sys.startAgent('cli-agent', { HTTPAGENT_LABELS: 'role=cli' });
});
afterAll(async () => sys?.stop());

async function cli(args: string[], env: Record<string, string> = sys.cliEnv()) {
  const p = spawnHttpagent(args, env);
  const code = await p.exited();
  return { code, out: p.output() };
}

describe('httpagent console', { timeout: 180_000 }, () => {
  it('submit --wait shows progress and exits 0 on success, 1 on failure', async () => {
    const ok = await cli(['job', 'submit', 'say', '--param', 'text=a=b c', '--label', 'role=cli', '--wait']);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/step 1\/1 say/);
    expect(ok.out).toContain('out: a=b c');
    expect(ok.out).toMatch(/ succeeded\n/);
    const bad = await cli(['job', 'submit', 'say', '--param', 'exit=9', '--agent', 'cli-agent', '--wait']);
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/exited with 9/);
  });

  it('submit prints the id; status and logs show the job', async () => {
    const sub = await cli(['job', 'submit', 'say', '--param', 'text=logged', '--priority', '5', '--idempotency-key', 'cli-once']);
    expect(sub.code).toBe(0);
    const id = sub.out.trim();
    expect(id).toMatch(/^\S+$/);
    await sys.waitFinal(id);
    const again = await cli(['job', 'submit', 'say', '--param', 'text=logged', '--idempotency-key', 'cli-once']);
    // stdout is the id; stderr says it was there already.
    expect(again.out).toContain(`job ${id} was already queued with idempotency key cli-once`);
    expect(again.out.trim().split('\n').pop()).toBe(id);
    const status = await cli(['job', 'status', id]);
    expect(status.code).toBe(0);
    expect(status.out).toMatch(/state\s+succeeded/);
    expect(status.out).toMatch(/1\. say\s+succeeded\s+exit 0/);
    const json = await cli(['job', 'status', id, '--json']);
    expect(JSON.parse(json.out)).toMatchObject({ id, state: 'succeeded', priority: 5 });
    const logs = await cli(['job', 'logs', id]);
    expect(logs.code).toBe(0);
    expect(logs.out).toContain('out: logged');
    // --follow: the same log, then the outcome (on stderr), which is also its exit status.
    const follow = await cli(['job', 'logs', id, '--follow']);
    expect(follow.code).toBe(0);
    expect(follow.out).toBe(`${logs.out}httpagent: job ${id} succeeded\n`);
  });

  it('cancel stops a running job; --wait on it exits 3 (cancelled)', async () => {
    const waiting = spawnHttpagent(['job', 'submit', 'ticker', '--param', 'seconds=30', '--wait'], sys.cliEnv());
    const line = await waiting.waitFor(/job (\S+) (queued|running)/);
    const id = line.split(' ')[1]!;
    await sys.waitFor('the job to run', async () => (await sys.job(id)).state === 'running');
    const c = await cli(['job', 'cancel', id]);
    expect(c.code).toBe(0);
    expect(await waiting.exited()).toBe(3);
    expect((await sys.job(id)).state).toBe('cancelled');
  });

  it('agents lists the agent as a table and as JSON', async () => {
    const table = await cli(['agents']);
    expect(table.code).toBe(0);
    expect(table.out).toMatch(/^ID\s+STATE/);
    expect(table.out).toMatch(/cli-agent\s+online\s+\d\/2/);
    const json = await cli(['agents', '--json']);
    expect(JSON.parse(json.out)).toEqual(expect.arrayContaining([expect.objectContaining({ id: 'cli-agent', labels: { role: 'cli' } })]));
  });

  it('errors: unreachable 6, wrong token 4, unknown job 5, bad usage 2', async () => {
    const closed = await freePort();
    // Side by side: each is a process start, slow on a loaded machine.
    const [unreachable, token, missing, usage, pair] = await Promise.all([
      cli(['job', 'status', 'x'], { HTTPAGENT_CONTROLLER_URL: `http://127.0.0.1:${closed}`, HTTPAGENT_PLATFORM_TOKEN: 'whatever-token-0123456789' }),
      cli(['agents'], { ...sys.cliEnv(), HTTPAGENT_PLATFORM_TOKEN: 'wrong-token-0123456789' }),
      cli(['job', 'status', 'no-such-job']),
      cli(['job', 'submit']),
      cli(['job', 'submit', 'say', '--param', 'novalue']),
    ]);
    expect(unreachable.code).toBe(6);
    expect(unreachable.out).toMatch(/cannot reach the controller/);
    expect(token.code).toBe(4);
    expect(missing.code).toBe(5);
    expect(usage.code).toBe(2);
    expect(pair.code).toBe(2);
  });

  it('token ID opens that agent\'s port; agents remove ID revokes it', async () => {
    const extra = await sys.startAgent('cli-revoked', { HTTPAGENT_LABELS: 'role=cli-revoked' });
    const minted = await cli(['token', 'cli-revoked']);
    expect(minted.code).toBe(0);
    const token = minted.out.trim();
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const health = await fetch(`${extra.url}/healthz`, { headers: { authorization: `Bearer ${token}` } });
    expect(await health.json()).toMatchObject({ agentId: 'cli-revoked', revoked: false });
    // Another agent's port refuses it: the token names its agent.
    const other = await fetch(`${cliAgent.url}/v1/run`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"task":"noop"}' });
    expect(other.status).toBe(401);
    const json = await cli(['token', 'cli-revoked', '--ttl', '60', '--json']);
    expect(JSON.parse(json.out)).toMatchObject({ token: expect.any(String), expiresAt: expect.any(Number) });
    expect((await cli(['token', 'cli-nobody'])).code).toBe(5);
    expect((await cli(['token', 'cli-revoked', '--ttl', '9999'])).code).toBe(2);

    const removed = await cli(['agents', 'remove', 'cli-revoked']);
    expect(removed.code).toBe(0);
    expect(removed.out).toMatch(/^revoked cli-revoked: 0 jobs re-queued, 0 cancelled$/m);
    const listed = JSON.parse((await cli(['agents', '--json'])).out) as { id: string; state: string }[];
    expect(listed.find((a) => a.id === 'cli-revoked')?.state).toBe('revoked');
    // Revoked: no port token for it any more.
    expect((await cli(['token', 'cli-revoked'])).code).toBe(5);
  });
});
