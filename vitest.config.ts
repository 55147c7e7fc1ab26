import { defineConfig } from 'vitest/config';
import LongestFirst from './test/setup/sequencer.js';

// Integration tests spawn real redis-server, controller and agent processes; two cores
// cannot run many of those files at once without starving leases, so files run in a
// small fork pool and each file owns its private services on free ports. (Three workers
// took as long as two, 872 s against 863 s: the machine, not the pool, is the limit.)
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    // Bounds that only a hang reaches: tests wait for events, and a loaded machine makes them slow, not wrong.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    // Longest file first (measured seconds), so no minutes-long file starts last on a fresh clone.
    sequence: { sequencer: LongestFirst },
    // dist/ is what the tests start as processes: compiled once per run, never stale.
    globalSetup: ['test/setup/build.ts'],
    // Records and tags every spawned process; after each file, fails it if anything it started still runs.
    setupFiles: ['test/setup/processes.ts'],
  },
});
