import { describe, expect, it } from 'vitest';
import { selfTestTimeouts } from '../../src/ops/release-build.js';

describe('self-test time-outs', () => {
  it('a commit is tried again after its first two time-outs and counts as failed on the third; commits count apart', () => {
    const t = selfTestTimeouts();
    expect([t.tryAgain('a'), t.tryAgain('a')]).toEqual([true, true]);
    expect(t.tryAgain('b')).toBe(true);
    expect(t.tryAgain('a')).toBe(false);
  });
});
