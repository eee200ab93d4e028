import { applyMagnitudeThreshold, magnitudeThreshold, sparsify, type Granularity, type MethodName } from '@specprune/core';
import { extractBlock, scatterBlock, type MatrixView } from '@specprune/onnx-io';
import { deriveSeed } from './seed.js';

export interface PrunedWeight {
  values: Float32Array;
  nnz: number;
  sparsity: number;
  /** Method used; for `spectral`, the winning candidate (several blocks may pick different ones: "l2+magnitude"). */
  method: string;
  /** ||W - W'||_2 / ||W||_2 of the weight viewed as (block-diagonal) matrices. */
  spectralError: number;
  /** ||W - W'||_F / ||W||_F. */
  frobeniusError: number;
}

/**
 * Splits `zeros` over blocks in proportion to their size (largest remainder), so the weight as a
 * whole gets exactly `zeros` zeros whatever the number of blocks.
 */
function zerosPerBlock(sizes: readonly number[], zeros: number): number[] {
  const total = sizes.reduce((a, b) => a + b, 0);
  const exact = sizes.map((n) => (total ? (zeros * n) / total : 0));
  const out = exact.map(Math.floor);
  let left = zeros - out.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, i] of order) {
    if (left <= 0) break;
    if (out[i]! < sizes[i]!) {
      out[i]!++;
      left--;
    }
  }
  return out;
}

/**
 * Prunes one weight: each matrix block of its view is sparsified with `method` so the weight has
 * `zeros` zeros in total (unstructured); N:M and block granularities set their own count.
 */
export function pruneWeight(
  original: Float32Array,
  view: MatrixView,
  zeros: number,
  method: MethodName,
  granularity: Granularity,
  seed: number,
  weightKey: string,
  options: { measureSpectralError?: boolean; tolerance?: number } = {},
): PrunedWeight {
  const measure = options.measureSpectralError ?? true;
  const values = new Float32Array(original);
  const sizes = view.blocks.map((b) => b.rows * b.cols);
  const blockZeros = zerosPerBlock(sizes, zeros);
  const methods = new Set<string>();
  let maxError = 0;
  let maxNorm = 0;
  let frobError = 0;
  let frobNorm = 0;
  view.blocks.forEach((block, b) => {
    const data = extractBlock(original, block);
    const size = sizes[b]!;
    const result = sparsify({ data, rows: block.rows, cols: block.cols }, method, {
      sparsity: size ? blockZeros[b]! / size : 0,
      granularity,
      seed: deriveSeed(seed, weightKey, b),
      measureSpectralError: measure,
      ...(options.tolerance ? { measureTolerance: options.tolerance } : {}),
    });
    methods.add(result.method);
    scatterBlock(values, block, result.data);
    if (measure) {
      maxNorm = Math.max(maxNorm, result.spectralNorm);
      maxError = Math.max(maxError, result.spectralError * result.spectralNorm);
    }
    let blockFrob = 0;
    for (let i = 0; i < data.length; i++) blockFrob += data[i]! * data[i]!;
    frobNorm += blockFrob;
    frobError += (result.frobeniusError * Math.sqrt(blockFrob)) ** 2;
  });
  let nnz = 0;
  for (let i = 0; i < values.length; i++) if (values[i] !== 0) nnz++;
  return {
    values,
    nnz,
    sparsity: values.length ? 1 - nnz / values.length : 0,
    method: [...methods].join('+'),
    spectralError: !measure ? Number.NaN : maxNorm ? maxError / maxNorm : 0,
    frobeniusError: frobNorm ? Math.sqrt(frobError / frobNorm) : 0,
  };
}

/**
 * Unstructured magnitude pruning of a whole weight in place (one threshold over all its elements, exact
 * count): the fast path for large models, with no copy of the weight. Returns nnz and the relative
 * Frobenius error; the spectral error is not measured.
 */
export function pruneMagnitudeInPlace(data: Float32Array, zeros: number): { nnz: number; frobeniusError: number } {
  const threshold = magnitudeThreshold([data], data.length - zeros);
  const energy = { total: 0, removed: 0 };
  const [kept] = applyMagnitudeThreshold([data], threshold, [data], energy);
  // Kept entries are nonzero unless the threshold itself is zero (then count them).
  let nnz = kept!;
  if (threshold.thresholdKey === 0) {
    nnz = 0;
    for (let i = 0; i < data.length; i++) if (data[i] !== 0) nnz++;
  }
  return { nnz, frobeniusError: energy.total > 0 ? Math.sqrt(Math.min(energy.total, energy.removed) / energy.total) : 0 };
}
