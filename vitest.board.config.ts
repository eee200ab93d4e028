import { defineConfig } from 'vitest/config';

/** `pnpm test:board`: the ssh target against an emulated ARM64 board (slow; kept out of `pnpm test`). */
export default defineConfig({
  test: {
    include: ['packages/*/test-board/**/*.test.ts'],
    testTimeout: 300_000,
    // The first run builds the board's root with debootstrap (several minutes).
    hookTimeout: 1_500_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
