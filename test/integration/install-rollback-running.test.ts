// install.sh's rollback on an install that runs: the next run brings a new release (a changed source) and
// a new setting, every step is broken in turn (--fail-at-step N), and after each the prefix and the system
// root are as before byte for byte (type, owner, mode, content hash, mtime), both users exist, and the old
// release serves again. install-rollback-fresh.test.ts does the same on a fresh host. Needs root.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitUntil } from '../helpers/wait.js';
import { snapshot, snapshotDiff } from './install-helpers.js';
import { AGENT, STEPS, agentsOwn, useRollbackHost } from './install-rollback-host.js';

const asRoot = process.getuid?.() === 0;

describe.skipIf(!asRoot)('install.sh rolls back every step', () => {
  const h = useRollbackHost('harr');

  it('on an install that runs: files, owners and modes as before, the old release serving', async () => {
    const first = await h.install([]);
    expect(first.code, first.out).toBe(0);
    const oldCommit = readFileSync(join(h.prefix, 'current', 'COMMIT'), 'utf8').trim();
    await waitUntil('the agent RUNNING', async () => (await h.sup.state(AGENT)) === 'RUNNING');
    writeFileSync(join(h.source, 'src/notes.txt'), 'a change, so the source makes a new release\n');
    const before = h.host();
    for (const n of STEPS) {
      const r = await h.install(['--labels', 'rack=r2', '--fail-at-step', String(n)]);
      expect(r.code, `step ${n}\n${r.out}`).toBe(1);
      expect(r.out).toContain(`failing after step ${n}, as --fail-at-step asked`);
      expect(r.out, `step ${n}`).not.toMatch(/could not undo/);
      const diff = [...snapshotDiff(before.prefix, snapshot(h.prefix, agentsOwn)), ...snapshotDiff(before.sysroot, snapshot(h.sysroot))];
      expect(diff, `step ${n}`).toEqual([]);
      expect(await h.userExists(h.user)).toBe(true);
      expect(await h.userExists(h.taskUser)).toBe(true);
      await waitUntil(`step ${n}: the old release serving`, async () => (await h.sup.state(AGENT)) === 'RUNNING' && h.servingCommit() === oldCommit);
    }
    const done = await h.install(['--uninstall', '--purge']);
    expect(done.code, done.out).toBe(0);
  }, 1_800_000);
});
