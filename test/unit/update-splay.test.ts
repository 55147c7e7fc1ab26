import { describe, expect, it } from 'vitest';
import { updateSplayMs } from '../../src/ops/self-updater.js';

describe('update splay', () => {
  it('is the same for an agent every time, within [0, splaySec), and 0 when off', () => {
    expect(updateSplayMs('host-1', 30)).toBe(updateSplayMs('host-1', 30));
    expect(updateSplayMs('host-1', 0)).toBe(0);
    for (let i = 0; i < 200; i++) {
      const ms = updateSplayMs(`host-${i}`, 30);
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(ms).toBeLessThan(30_000);
    }
  });

  it('spreads a fleet over the whole window: 1,000 agents fill each of ten 3 s slices', () => {
    const slices = new Array<number>(10).fill(0);
    for (let i = 0; i < 1000; i++) slices[Math.floor(updateSplayMs(`fleet-${i}`, 30) / 3000)]!++;
    // Uniform would be 100 each; a hash that clumped (or a constant) would leave slices near empty.
    for (const n of slices) expect(n).toBeGreaterThan(60);
  });
});
