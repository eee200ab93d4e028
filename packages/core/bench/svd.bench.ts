/**
 * Top-16 singular values of a 2048x2048 float32 matrix with a known spectrum.
 * Goal: at most 0.5 s at 1e-4 relative accuracy. Baseline in the same run: scipy.sparse.linalg.svds when
 * /usr/bin/python3 has scipy, else numpy's full SVD (np.linalg.svd, compute_uv=False) of the same matrix.
 * Run: npx tsx packages/core/bench/svd.bench.ts
 */
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import path from 'node:path';
import { estimateTopSingularValues, matrixOperator } from '../src/index.js';
import { matrixWithKnownSpectrum } from './known-spectrum.js';
import { hasScipy, runPython, PYTHON } from './python-baseline.js';

const n = 2048;
const k = 16;
const tolerance = 1e-4;
const spectra: Array<[string, (i: number) => number]> = [
  ['σᵢ = 1/(1+i)', (i) => 1 / (1 + i)],
  ['σᵢ = 1/sqrt(1+i)', (i) => 1 / Math.sqrt(1 + i)],
  ['σᵢ = exp(−i/64)', (i) => Math.exp(-i / 64)],
];

const dir = mkdtempSync(path.join(tmpdir(), 'specprune-bench-'));
const rows: string[][] = [];
const scipy = hasScipy();
try {
  for (const [name, sigma] of spectra) {
    const spectrum = Float64Array.from({ length: n }, (_, i) => sigma(i));
    const w = matrixWithKnownSpectrum(n, spectrum, 7);
    estimateTopSingularValues(matrixOperator(w), k, { tolerance }); // warm-up (JIT)
    const times: number[] = [];
    let result = estimateTopSingularValues(matrixOperator(w), k, { tolerance });
    for (let run = 0; run < 3; run++) {
      const start = performance.now();
      result = estimateTopSingularValues(matrixOperator(w), k, { tolerance, seed: run });
      times.push(performance.now() - start);
    }
    let maxError = 0;
    for (let i = 0; i < k; i++) maxError = Math.max(maxError, Math.abs(result.values[i] - spectrum[i]) / spectrum[i]);
    const median = times.sort((a, b) => a - b)[1];
    rows.push([`specprune Lanczos top-${k}, ${name}`, `${median.toFixed(0)} ms`, maxError.toExponential(1), `${result.iterations} steps`]);

    const file = path.join(dir, 'w.f32');
    writeFileSync(file, w.data);
    const baselineCode = scipy
      ? `import numpy as np, time, json
from scipy.sparse.linalg import svds
a = np.fromfile(${JSON.stringify(file)}, dtype=np.float32).reshape(${n}, ${n})
t = time.perf_counter(); s = svds(a, k=${k}, tol=${tolerance}, return_singular_vectors=False); dt = time.perf_counter() - t
print(json.dumps({"ms": dt * 1000, "values": sorted(s.tolist(), reverse=True)}))`
      : `import numpy as np, time, json
a = np.fromfile(${JSON.stringify(file)}, dtype=np.float32).reshape(${n}, ${n})
t = time.perf_counter(); s = np.linalg.svd(a, compute_uv=False); dt = time.perf_counter() - t
print(json.dumps({"ms": dt * 1000, "values": s[:${k}].tolist()}))`;
    const baseline = runPython<{ ms: number; values: number[] }>(baselineCode);
    if ('unavailable' in baseline) {
      rows.push([`baseline unavailable (${baseline.unavailable})`, '', '', '']);
    } else {
      let baselineError = 0;
      for (let i = 0; i < k; i++) baselineError = Math.max(baselineError, Math.abs(baseline.values[i] - spectrum[i]) / spectrum[i]);
      const label = scipy ? `scipy svds k=${k}` : 'numpy full SVD (float32 LAPACK, no scipy)';
      rows.push([`  ${label}`, `${baseline.ms.toFixed(0)} ms`, baselineError.toExponential(1), '']);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

console.log(`top-${k} singular values of a ${n}x${n} float32 matrix, tolerance ${tolerance}; ${cpus().length} cores, node ${process.version}, baseline ${PYTHON}${scipy ? '' : ' (scipy not installed)'}`);
printTable(['case', 'time', 'max rel error', 'note'], rows);

function printTable(header: string[], body: string[][]): void {
  const all = [header, ...body];
  const widths = header.map((_, c) => Math.max(...all.map((row) => (row[c] ?? '').length)));
  for (const row of all) console.log(row.map((cell, c) => (cell ?? '').padEnd(widths[c])).join('  ').trimEnd());
}
