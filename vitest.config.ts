import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Workspace packages export compiled dist/ to users and their TypeScript sources under this condition.
  resolve: { conditions: ['specprune-source'] },
  ssr: { resolve: { conditions: ['specprune-source'], externalConditions: ['specprune-source'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // onnx.checker on every model the CLI tests' prune runs wrote (valid ONNX by default).
    setupFiles: ['packages/cli/test/checker.setup.ts'],
  },
});
