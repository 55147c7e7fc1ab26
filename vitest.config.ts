import { defineConfig } from 'vitest/config';

// Integration tests spawn real redis-server, controller and agent processes; two cores
// cannot run many of those files at once without starving leases, so files run in a
// small fork pool and each file owns its private services on free ports.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
    // dist/ is what the tests start as processes: compiled once per run, never stale.
    globalSetup: ['test/setup/build.ts'],
    // Records and tags every spawned process; after each file, fails it if anything it started still runs.
    setupFiles: ['test/setup/processes.ts'],
  },
});
