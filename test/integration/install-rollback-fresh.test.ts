// Regression: install.sh with supervisord stopped failed at a step with no reason, and its rollback failed
// too (`mv: cannot stat httpagent.yaml.install-backup`), leaving a changed config and a chowned prefix.
// Here every step is broken in turn (--fail-at-step N, a test option) on a fresh host (nothing installed,
// supervisord stopped) and the host must be as before, byte for byte: every file and link under the
// system root by type, owner, mode, content hash and mtime; no prefix, no users; supervisord stopped
// again. install-rollback-running.test.ts does the same on an install that runs. Needs root.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { snapshot, snapshotDiff } from './install-helpers.js';
import { STEPS, useRollbackHost } from './install-rollback-host.js';

const asRoot = process.getuid?.() === 0;

describe.skipIf(!asRoot)('install.sh rolls back every step', () => {
  const h = useRollbackHost('harf');

  it('on a fresh host: nothing is left, no user, supervisord stopped again', async () => {
    const before = h.host();
    expect(existsSync(h.prefix)).toBe(false);
    for (const n of STEPS) {
      const r = await h.install(['--fail-at-step', String(n)]);
      expect(r.code, `step ${n}\n${r.out}`).toBe(1);
      expect(r.out).toContain(`failing after step ${n}, as --fail-at-step asked`);
      expect(r.out).toMatch(/rolled back; the host is as it was before this run/);
      expect(r.out, `step ${n}`).not.toMatch(/could not undo/);
      expect(snapshotDiff(before.sysroot, snapshot(h.sysroot)), `step ${n}`).toEqual([]);
      expect(existsSync(h.prefix), `step ${n}`).toBe(false);
      expect(await h.userExists(h.user), `step ${n}`).toBe(false);
      expect(await h.userExists(h.taskUser), `step ${n}`).toBe(false);
      expect((await h.sup.ctl('status')).code, `step ${n}: supervisord stopped again`).toBe(4);
    }
  }, 1_800_000);
});
