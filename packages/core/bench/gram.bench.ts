/**
 * Input Gram accumulation and the re-fit's factorisation, the two costs of data-aware pruning:
 * - accumulateInputs + finishInputStats: 8192 input vectors of K = 1152 (a 3x3 conv over 128 channels), float64;
 * - refitFactor: the inverse-Hessian Cholesky factor of that Gram (K = 1152);
 * - numpy baseline (/usr/bin/python3 with Debian's python3-numpy and its BLAS): X.T @ X in float64, and cholesky(inv(H)) as SparseGPT does.
 * Run: npx tsx packages/core/bench/gram.bench.ts
 */
import { cpus } from 'node:os';
import { accumulateInputs, createInputStats, finishInputStats, gaussianArray, groupGram, refitFactor } from '../src/index.js';
import { runPython } from './python-baseline.js';

const cols = 1152;
const vectors = 8192;
const x = gaussianArray(vectors * cols, 3);
const stats = createInputStats(cols, 1, true);
let start = performance.now();
for (let v = 0; v < vectors; v += 512) accumulateInputs(stats, 0, x.subarray(v * cols, (v + 512) * cols), 512);
finishInputStats(stats);
const gramMs = performance.now() - start;
start = performance.now();
refitFactor(groupGram(stats, 0), cols);
const factorMs = performance.now() - start;

const numpy = runPython<{ gramMs: number; factorMs: number }>(`import numpy as np, time, json
rng = np.random.default_rng(3)
x = rng.standard_normal((${vectors}, ${cols})).astype(np.float32).astype(np.float64)
t = time.perf_counter(); g = x.T @ x; gm = (time.perf_counter() - t) * 1000
h = g + 0.01 * np.mean(np.diag(g)) * np.eye(${cols})
t = time.perf_counter(); u = np.linalg.cholesky(np.linalg.inv(h)).T; fm = (time.perf_counter() - t) * 1000
print(json.dumps({"gramMs": gm, "factorMs": fm}))`);

const gflops = (flops: number, ms: number) => `${(flops / ms / 1e6).toFixed(2)} GFLOP/s`;
console.log(`Gram of ${vectors} vectors x K=${cols} and its re-fit factor (${cpus()[0]?.model ?? 'cpu'}, ${cpus().length} cores)\n`);
console.log("| case | specprune (JS) | numpy (Debian's BLAS) |");
console.log('| --- | --- | --- |');
const numpyCell = (ms: number | undefined, flops?: number) =>
  ms === undefined ? `unavailable (${'unavailable' in numpy ? numpy.unavailable : ''})` : `${ms.toFixed(0)} ms${flops ? ` (${gflops(flops, ms)})` : ''}`;
const numpyMs = (key: 'gramMs' | 'factorMs') => ('unavailable' in numpy ? undefined : numpy[key]);
const gramFlops = vectors * cols * cols; // upper triangle: K²/2 entries x 2 flops per vector
console.log(`| Gram X·Xᵀ | ${gramMs.toFixed(0)} ms (${gflops(gramFlops, gramMs)}) | ${numpyCell(numpyMs('gramMs'), 2 * gramFlops)} |`);
console.log(`| inverse-Hessian Cholesky factor | ${factorMs.toFixed(0)} ms | ${numpyCell(numpyMs('factorMs'))} |`);
