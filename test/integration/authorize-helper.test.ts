// The agent's side of the authorize helper against real child processes: the real helper edits a
// temp home and goes away when idle; a helper that lies, dies or stalls yields AUTHORIZE_FAILED (500)
// and is killed, never a reply the agent believes.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createAuthorizeHelpers, defaultHelperCommand, type AuthorizeHelpers } from '../../src/agent/tasks/authorize-helper.js';
import { silentLogger } from '../../src/shared/log.js';
import { newPublicKey } from '../helpers/ssh-keys.js';

const tmp = mkdtempSync(join(tmpdir(), 'httpagent-helper-'));
const misbehave = fileURLToPath(new URL('../fixtures/authorize-helpers/misbehave.mjs', import.meta.url));
const pools: AuthorizeHelpers[] = [];
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
  rmSync(tmp, { recursive: true, force: true });
});

/** Child processes of this test process whose command line mentions `what`. */
function childrenRunning(what: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(what)) out.push(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function pool(opts: { command?: string[]; idleMs?: number; timeoutMs?: number } = {}): AuthorizeHelpers {
  const p = createAuthorizeHelpers({ logger: silentLogger(), ...opts });
  pools.push(p);
  return p;
}

describe('authorize helper', () => {
  it('edits authorized_keys in a home as the identity it runs as, then exits when idle', async () => {
    const helpers = pool({ idleMs: 100 });
    const home = mkdtempSync(join(tmp, 'home-'));
    const key = newPublicKey('ssh-ed25519', 'k');
    expect(await helpers.edit(undefined, 'add', home, key)).toBe('added');
    expect(await helpers.edit(undefined, 'add', home, key)).toBe('present');
    expect(readFileSync(join(home, '.ssh/authorized_keys'), 'utf8')).toBe(`${key}\n`);
    expect(await helpers.edit(undefined, 'remove', home, key)).toBe('removed');
    expect(await helpers.edit(undefined, 'remove', join(tmp, 'no-home'), key).catch((e) => e.code)).toBe('HOME_MISSING');
    await until(() => childrenRunning('authorize-helper').length === 0, 'the idle helper to exit');
    // A new request after the idle exit starts a fresh helper.
    expect(await helpers.edit(undefined, 'add', home, key)).toBe('added');
    await helpers.close();
    expect(childrenRunning('authorize-helper')).toEqual([]);
  });

  it.each(['garbage', 'forged', 'wrong-id', 'exit'])('turns a helper that answers %s into AUTHORIZE_FAILED and stops it', async (mode) => {
    const helpers = pool({ command: [process.execPath, misbehave, mode] });
    const err = await helpers.edit(undefined, 'add', tmp, newPublicKey()).catch((e: unknown) => e);
    // Never the forged USER_NOT_ALLOWED or its status: codes and statuses come from the agent's own table.
    expect(err).toMatchObject({ code: 'AUTHORIZE_FAILED', statusCode: 500 });
    await until(() => childrenRunning(misbehave).length === 0, 'the helper to be gone');
  });

  it('kills a helper that does not answer in time', async () => {
    const helpers = pool({ command: [process.execPath, misbehave, 'silent'], timeoutMs: 300 });
    const err = await helpers.edit(undefined, 'add', tmp, newPublicKey()).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'AUTHORIZE_FAILED', statusCode: 500 });
    await until(() => childrenRunning(misbehave).length === 0, 'the silent helper to be killed');
  });

  it('runs the TypeScript entry through tsx from source and the compiled one from dist', () => {
    const cmd = defaultHelperCommand();
    expect(cmd[0]).toBe(process.execPath);
    expect(cmd.at(-1)).toMatch(/src\/bin\/authorize-helper\.ts$/);
    expect(cmd).toContain('--import');
  });
});
