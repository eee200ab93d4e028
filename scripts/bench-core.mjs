#!/usr/bin/env node
// Runs the packages/core benchmarks (singular values, magnitude pruning) one after another with tsx.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const benches = ['packages/core/bench/svd.bench.ts', 'packages/core/bench/magnitude.bench.ts', 'packages/core/bench/gram.bench.ts'];
for (const bench of benches) {
  const result = spawnSync('npx', ['tsx', '--conditions=specprune-source', bench], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
  console.log();
}
