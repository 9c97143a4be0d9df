import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Ring and router tests start real worker threads that spin; on a 2-core
    // machine running test files in parallel would starve them.
    fileParallelism: false,
    pool: 'forks',
    reporters: ['default', './tools/vitest-summary.ts'],
  },
});
