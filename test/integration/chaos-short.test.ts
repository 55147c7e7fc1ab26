// The short chaos run inside `npm test`: three agents, two controllers, Redis with AOF; jobs of random
// length and log volume while agents are killed and restarted, one paused past its lease, a controller
// restarted, Redis restarted, a controller killed mid-claim, an agent killed while its controller is
// down (its spooled results must go out after both return), and a controller frozen past the lease. Every job must end as planned
// with exactly one accepted result and its full log (see test/helpers/chaos-check.ts).
import { describe, expect, it } from 'vitest';
import { runChaos } from '../helpers/chaos-run.js';

describe('chaos (short), one Redis with AOF', () => {
  it('loses no job, accepts one result per job and keeps every log whole', async () => {
    const report = await runChaos({
      // Redis restarts with SIGTERM here: the production setting (appendfsync everysec) with a clean
      // shutdown that flushes the AOF. `npm run chaos` uses SIGKILL with appendfsync always.
      system: { redis: 'single', redisStop: 'term', agents: 3, controllers: 2, concurrency: 4, leaseMs: 2000, longPollMs: 5000, logLevel: 'warn' },
      jobs: 160,
      batch: 6,
      // Two jobs per slot (3 agents x 4) at most: the machine's pace sets the run's, never a backlog.
      maxOpen: 24,
      seed: 20261125,
      shape: { maxChunks: 6, maxLines: 40, maxPauseSec: 0.3, bigShare: 0.03 },
      events: ['kill-agent', 'pause-agent', 'restart-controller', 'restart-redis', 'cut-controller', 'strand-results', 'freeze-controller', 'kill-agent'],
      settleTimeoutMs: 120_000,
      print: () => undefined,
    });
    process.stdout.write(`${report.text}\n`);
    expect(report.problems).toEqual([]);
    expect(report.stats.final).toBe(160);
    // The chaos must have bitten: some jobs ran more than once.
    expect(report.stats.rerun).toBeGreaterThan(0);
  }, 300_000); // a bound for a loaded machine; the run itself is paced by the jobs, not the clock
});
