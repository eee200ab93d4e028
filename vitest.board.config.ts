import { defineConfig } from 'vitest/config';

/** `pnpm test:board`: the ssh target against an emulated ARM64 board (slow; kept out of `pnpm test`). */
export default defineConfig({
  // Workspace packages export compiled dist/ to users and their TypeScript sources under this condition.
  resolve: { conditions: ['specprune-source'] },
  ssr: { resolve: { conditions: ['specprune-source'], externalConditions: ['specprune-source'] } },
  test: {
    include: ['packages/*/test-board/**/*.test.ts'],
    testTimeout: 300_000,
    // The first run builds the board's root with debootstrap (several minutes).
    hookTimeout: 1_500_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
