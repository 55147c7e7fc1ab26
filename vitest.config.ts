import { defineConfig } from 'vitest/config';
import LongestFirst from './test/setup/sequencer.js';

// Integration tests spawn real redis-server, controller and agent processes; two cores
// cannot run many of those files at once without starving leases, so files run in a
// small fork pool and each file owns its private services on free ports. Three workers on
// two cores: much of a file's time is waiting (supervisord, install.sh, leases), and with
// two the cores idled a third to a half of the run.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 3,
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
