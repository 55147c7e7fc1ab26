// The result spool's leftovers as a restart sees them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createResultSpool } from '../../src/agent/jobs/result-spool.js';

const tmp = mkdtempSync(join(tmpdir(), 'httpagent-spool-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('result spool', () => {
  it('lists what an earlier run left: results to deliver, interrupted jobs, and skips debris', async () => {
    const spool = await createResultSpool(tmp);
    const done = await spool.create({ id: 'job/with:odd chars', epoch: 3, attempt: 2, claimedAt: '2026-01-01T00:00:01.000Z' });
    await done.writeResult({ epoch: 3, outcome: 'succeeded', error: null, steps: [], logBytes: 0 });
    await spool.create({ id: 'cut-off', epoch: 1, attempt: 1, claimedAt: '2026-01-01T00:00:02.000Z' });
    writeFileSync(join(spool.root, 'not-a-job'), 'x');
    const again = await createResultSpool(tmp);
    const left = await again.leftovers();
    expect(left.map((l) => [l.meta.id, l.result?.outcome])).toEqual([
      ['job/with:odd chars', 'succeeded'],
      ['cut-off', undefined],
    ]);
    await left[0]!.remove();
    expect((await again.leftovers()).map((l) => l.meta.id)).toEqual(['cut-off']);
  });
});
