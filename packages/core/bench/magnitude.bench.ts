/**
 * Magnitude pruning throughput on a 50M-element float32 array (a 200 MB model's worth of weights), at
 * sparsity 0.7. Each case runs in its own child process so that its peak RSS is its own.
 * - threshold+apply in place: magnitudeThreshold + applyMagnitudeThreshold, the global-allocation path;
 * - sparsify(): the per-weight API, which returns a new array (spectral error not measured);
 * - numpy baseline: np.partition on |w| for the threshold, then zero below it, in /usr/bin/python3.
 * Times exclude generating the data. Run: npx tsx packages/core/bench/magnitude.bench.ts
 */
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { applyMagnitudeThreshold, gaussianArray, magnitudeThreshold, sparsify } from '../src/index.js';
import { PYTHON, runPython } from './python-baseline.js';

const rows = 5000;
const cols = 10_000;
const numel = rows * cols;
const sparsity = 0.7;
const keep = numel - Math.round(sparsity * numel);

interface CaseResult {
  ms: number;
  peakRssBytes: number;
  nnz: number;
}

function runCase(mode: string): CaseResult {
  const data = gaussianArray(numel, 1);
  const start = performance.now();
  let nnz: number;
  if (mode === 'in-place') {
    nnz = applyMagnitudeThreshold([data], magnitudeThreshold([data], keep))[0];
  } else {
    nnz = sparsify({ data, rows, cols }, 'magnitude', { sparsity, measureSpectralError: false }).nnz;
  }
  const ms = performance.now() - start;
  return { ms, peakRssBytes: process.resourceUsage().maxRSS * 1024, nnz };
}

const mode = process.argv[2];
if (mode) {
  console.log(JSON.stringify(runCase(mode)));
} else {
  const self = fileURLToPath(import.meta.url);
  const child = (m: string): CaseResult => {
    const out = execFileSync(process.execPath, [...process.execArgv, self, m], { encoding: 'utf8' });
    return JSON.parse(out.trim().split('\n').pop() ?? '{}') as CaseResult;
  };
  const inPlace = child('in-place');
  const copy = child('sparsify');
  const numpy = runPython<CaseResult>(`import numpy as np, time, json, resource
rng = np.random.default_rng(1)
a = rng.standard_normal(${numel}, dtype=np.float32)
t = time.perf_counter()
keep = ${keep}
thr = np.partition(np.abs(a), a.size - keep)[a.size - keep]
a[np.abs(a) < thr] = 0
dt = time.perf_counter() - t
print(json.dumps({"ms": dt * 1000, "peakRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "nnz": int(np.count_nonzero(a))}))`);
  const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(0)} MB`;
  const body: string[][] = [
    ['specprune threshold + apply, in place', `${inPlace.ms.toFixed(0)} ms`, mb(inPlace.peakRssBytes), String(inPlace.nnz)],
    ['specprune sparsify(), new array', `${copy.ms.toFixed(0)} ms`, mb(copy.peakRssBytes), String(copy.nnz)],
    'unavailable' in numpy
      ? [`numpy baseline unavailable (${numpy.unavailable})`, '', '', '']
      : ['numpy np.partition + mask (baseline)', `${numpy.ms.toFixed(0)} ms`, mb(numpy.peakRssBytes), String(numpy.nnz)],
  ];
  console.log(`magnitude pruning of ${numel / 1e6}M float32 values (${mb(numel * 4)}) to sparsity ${sparsity}, keep ${keep}; ${cpus().length} cores, node ${process.version}, baseline ${PYTHON}`);
  const header = ['case', 'time', 'peak RSS', 'nnz'];
  const all = [header, ...body];
  const widths = header.map((_, c) => Math.max(...all.map((row) => row[c].length)));
  for (const row of all) console.log(row.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd());
}
