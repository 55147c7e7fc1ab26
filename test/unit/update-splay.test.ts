import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { agentConfigSchema } from '../../src/shared/config/agent-config.js';
import { silentLogger } from '../../src/shared/log.js';
import { createSelfUpdater, updateSplayMs } from '../../src/ops/self-updater.js';

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

describe('update ticks with a splay', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  // Seen in the fleet bench: the splay was waited for inside the tick, so with a 5 s cron and a 30 s
  // splay an agent checked every ~30 s, and one told to wait (busy, or held by a bounded rollout) took
  // half a minute to ask again. The splay shifts the checks; the cron still sets how often they come.
  it('checks once per cron tick after its splay, not once per splay', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'httpagent-splay-'));
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    try {
      const agentId = 'splay-host';
      const splaySec = 10;
      const config = agentConfigSchema.parse({ agentId, stateDir: join(dir, 'state'), updateSource: 'bundle', updateCron: '* * * * * *', updateSplaySec: splaySec, updatePrefix: join(dir, 'prefix') });
      const asked: number[] = [];
      const updater = createSelfUpdater(config, {
        logger: silentLogger(),
        jobs: { running: () => 0, pause: async () => undefined, resume: () => undefined },
        exit: () => undefined,
        env: {},
        releases: {
          latest: async (channel) => {
            asked.push(Date.now());
            return { channel, canary: false, release: null };
          },
          download: async () => ({ sha256: '', bytes: 0 }),
        },
      });
      updater.start();
      const splay = updateSplayMs(agentId, splaySec);
      await vi.advanceTimersByTimeAsync(splay + 10_000);
      await updater.stop();
      // Ticks every second: about ten checks once the first splay has passed (one per splay: one or two).
      expect(asked.length).toBeGreaterThanOrEqual(9);
      expect(Math.max(...asked.slice(1).map((t, i) => t - asked[i]!))).toBeLessThanOrEqual(1000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
