import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Fails the run when a test left a vmsg-* file in /dev/shm or the temporary directory.
    globalSetup: ['./test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Ring and router tests start real worker threads that spin; on a 2-core
    // machine running test files in parallel would starve them.
    fileParallelism: false,
    pool: 'forks',
    reporters: ['default', './tools/vitest-summary.ts'],
  },
});
