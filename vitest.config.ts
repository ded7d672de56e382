import { defineConfig } from 'vitest/config';

// Unit tests are pure and fast; integration tests make real mounts as root and are run by
// scripts/test-ci.sh inside a private mount namespace, one file at a time.
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
