// The short chaos run against a three-master Redis Cluster on loopback, the controllers on ioredis'
// Cluster client (HTTPAGENT_REDIS_CLUSTER): no CROSSSLOT error and the same guarantees as on one Redis.
// The Redis restart event is skipped here: the cluster helper's masters keep no AOF and have no replicas.
import { describe, expect, it } from 'vitest';
import { runChaos } from '../helpers/chaos-run.js';

describe('chaos (short), three-master Redis Cluster', () => {
  it('loses no job, accepts one result per job and keeps every log whole, with no CROSSSLOT', async () => {
    const report = await runChaos({
      system: { redis: 'cluster', redisStop: 'term', agents: 3, controllers: 2, concurrency: 4, leaseMs: 2000, longPollMs: 5000, logLevel: 'warn' },
      jobs: 120,
      batch: 8,
      // Two jobs per slot (3 agents x 4) at most: the machine's pace sets the run's, never a backlog.
      maxOpen: 24,
      seed: 20261126,
      shape: { maxChunks: 6, maxLines: 40, maxPauseSec: 0.3, bigShare: 0.03 },
      events: ['kill-agent', 'pause-agent', 'restart-controller', 'cut-controller', 'freeze-controller', 'kill-agent'],
      settleTimeoutMs: 120_000,
      print: () => undefined,
    });
    process.stdout.write(`${report.text}\n`);
    expect(report.problems).toEqual([]);
    expect(report.stats.final).toBe(120);
    expect(report.stats.rerun).toBeGreaterThan(0);
  }, 300_000); // a bound for a loaded machine; the run itself is paced by the jobs, not the clock
});
