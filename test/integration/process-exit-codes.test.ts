// One exit policy for every process (src/shared/error-codes.ts): a bad setting or bad arguments exit 2
// whether the agent, the monitor or the controller was started; the controller's case is also in
// controller-process.test.ts. Regression: the agent and the monitor used to exit 1 where the controller exited 2.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { testSigningKeyFile, TEST_ENROLL_TOKEN } from '../helpers/identity.js';
import { spawnHttpagent, type Spawned } from '../helpers/processes.js';

/** What each process needs besides the setting under test: the controller its secrets, agent and monitor none. */
const NEEDS: Record<string, Record<string, string>> = {
  agent: {},
  monitor: {},
  controller: { HTTPAGENT_PLATFORM_TOKEN: 'platform-token-0123456789abcdef', HTTPAGENT_ENROLL_TOKEN: TEST_ENROLL_TOKEN, HTTPAGENT_SIGNING_KEY_FILE: testSigningKeyFile() },
};
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
    const procs = COMMANDS.map((cmd) => run([cmd], { ...NEEDS[cmd], HTTPAGENT_LOG_LEVEL: 'loud' }));
    const codes = await Promise.all(procs.map((p) => p.exited()));
    expect(codes).toEqual([2, 2, 2]);
    for (const p of procs) expect(p.output()).toContain('HTTPAGENT_LOG_LEVEL');
  });

  it('agent, monitor, controller: an unknown option', async () => {
    const procs = COMMANDS.map((cmd) => run([cmd, '--no-such-option'], NEEDS[cmd]!));
    const codes = await Promise.all(procs.map((p) => p.exited()));
    expect(codes).toEqual([2, 2, 2]);
    for (const p of procs) expect(p.output()).toContain('--no-such-option');
  });

  it('agent: no credential and no enrollment token, naming the setting', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'httpagent-exit-'));
    try {
      const p = run(['agent'], { HTTPAGENT_STATE_DIR: stateDir });
      expect(await p.exited()).toBe(2);
      expect(p.output()).toContain('enrollTokenFile');
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it('agent and monitor: a shared token of old, naming what replaced it', async () => {
    const procs = ['agent', 'monitor'].map((cmd) => run([cmd], { HTTPAGENT_AGENT_TOKEN: 'agent-token-0123456789abcdef' }));
    expect(await Promise.all(procs.map((p) => p.exited()))).toEqual([2, 2]);
    for (const p of procs) expect(p.output()).toMatch(/CONFIG_INVALID: HTTPAGENT_AGENT_TOKEN: no longer a setting of this process: each agent has its own credential/);
  });
});
