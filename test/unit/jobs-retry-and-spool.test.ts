// The retry policy's decisions and backoff bounds, and the result spool's leftovers as a restart sees them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ControllerError } from '../../src/shared/client/controller-http.js';
import { backoffMs, decide, expectedOffset, withRetry } from '../../src/shared/retry-policy.js';
import { UpstreamError } from '../../src/shared/errors.js';
import { createResultSpool } from '../../src/agent/jobs/result-spool.js';

const tmp = mkdtempSync(join(tmpdir(), 'httpagent-spool-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('retry policy', () => {
  it('decides by code and status', () => {
    expect(decide(new UpstreamError('CONTROLLER_UNREACHABLE', 'down'))).toBe('retry');
    expect(decide(new ControllerError('HTTP_503', 'x', 503))).toBe('retry');
    expect(decide(new ControllerError('OVERLOADED', 'x', 429))).toBe('retry');
    expect(decide(new ControllerError('STALE_EPOCH', 'x', 409))).toBe('stale');
    expect(decide(new ControllerError('JOB_NOT_FOUND', 'x', 404))).toBe('stale');
    expect(decide(new ControllerError('AGENT_UNKNOWN', 'x', 404))).toBe('reregister');
    expect(decide(new ControllerError('LOG_OFFSET_GAP', 'x', 416, { expected: 12 }))).toBe('resync');
    expect(expectedOffset(new ControllerError('LOG_OFFSET_GAP', 'x', 416, { expected: 12 }))).toBe(12);
    expect(decide(new ControllerError('BAD_REQUEST', 'x', 400))).toBe('fail');
    expect(decide(new Error('plain'))).toBe('fail');
  });

  it('backs off with jitter under a cap', () => {
    for (let attempt = 0; attempt < 30; attempt++) {
      const d = backoffMs(attempt, { baseMs: 100, capMs: 2000 });
      expect(d).toBeGreaterThanOrEqual(50);
      expect(d).toBeLessThanOrEqual(2000);
    }
  });

  it('retries transient failures only', async () => {
    let calls = 0;
    const v = await withRetry(async () => {
      if (++calls < 3) throw new ControllerError('HTTP_502', 'x', 502);
      return 'ok';
    }, { baseMs: 1, capMs: 2 });
    expect([v, calls]).toEqual(['ok', 3]);
    calls = 0;
    await expect(withRetry(async () => {
      calls++;
      throw new ControllerError('STALE_EPOCH', 'x', 409);
    }, { baseMs: 1 })).rejects.toMatchObject({ code: 'STALE_EPOCH' });
    expect(calls).toBe(1);
  });
});

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
