import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // onnx.checker on every model the CLI tests' prune runs wrote (valid ONNX by default).
    setupFiles: ['packages/cli/test/checker.setup.ts'],
  },
});
