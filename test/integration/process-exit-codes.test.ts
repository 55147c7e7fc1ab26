// One exit policy for every process (src/shared/error-codes.ts): a bad setting or bad arguments exit 2
// whether the agent, the monitor or the controller was started; the controller's case is also in
// controller-process.test.ts. Regression: the agent and the monitor used to exit 1 where the controller exited 2.
import { afterEach, describe, expect, it } from 'vitest';
import { spawnHttpagent, type Spawned } from '../helpers/processes.js';

const TOKENS = { HTTPAGENT_AGENT_TOKEN: 'agent-token-0123456789abcdef', HTTPAGENT_PLATFORM_TOKEN: 'platform-token-0123456789abcdef' };
const started: Spawned[] = [];
function run(args: string[], env: Record<string, string>): Spawned {
  const p = spawnHttpagent(args, env);
  started.push(p);
  return p;
}
afterEach(async () => {
  // A process that wrongly started would otherwise outlive the test.
  await Promise.all(started.splice(0).map((p) => p.kill('SIGKILL')));
});

const COMMANDS = ['agent', 'monitor', 'controller'];

describe('exit status 2 on a bad setting or bad arguments', () => {
  it('agent, monitor, controller: a malformed setting, naming it', async () => {
    const procs = COMMANDS.map((cmd) => run([cmd], { ...TOKENS, HTTPAGENT_LOG_LEVEL: 'loud' }));
    const codes = await Promise.all(procs.map((p) => p.exited()));
    expect(codes).toEqual([2, 2, 2]);
    for (const p of procs) expect(p.output()).toContain('HTTPAGENT_LOG_LEVEL');
  });

  it('agent, monitor, controller: an unknown option', async () => {
    const procs = COMMANDS.map((cmd) => run([cmd, '--no-such-option'], TOKENS));
    const codes = await Promise.all(procs.map((p) => p.exited()));
    expect(codes).toEqual([2, 2, 2]);
    for (const p of procs) expect(p.output()).toContain('--no-such-option');
  });

  it('agent: a missing required token', async () => {
    const p = run(['agent'], { HTTPAGENT_PLATFORM_TOKEN: TOKENS.HTTPAGENT_PLATFORM_TOKEN });
    expect(await p.exited()).toBe(2);
    expect(p.output()).toContain('HTTPAGENT_AGENT_TOKEN');
  });
});
