import { assertGranularity, type Granularity } from '../granularity.js';
import { assertMatrix, isEmptyMatrix, countNonzero, frobeniusDistance, frobeniusNorm, type Matrix } from '../matrix.js';
import { estimateTopSingularValues } from '../spectrum/lanczos.js';
import { spectralNorm } from '../spectrum/norm.js';
import { matrixOperator } from '../spectrum/operator.js';
import { Workspace } from '../workspace.js';
import { sparsifyHybrid } from './hybrid.js';
import { sparsifyByImportance } from './importance.js';
import { sparsifyMagnitude } from './magnitude.js';
import { searchSpectral } from './spectral.js';
import { METHOD_NAMES, type BaseMethodName, type MethodName, type SparsifyOptions, type SparsifyResult } from './types.js';

/** Options after defaults and validation. */
export interface ResolvedSparsifyOptions {
  sparsity: number;
  keep: number;
  granularity: Granularity;
  seed: number;
  hybridKeepFraction: number;
  candidateSeeds: number;
  candidateMethods: readonly BaseMethodName[];
  measureTolerance: number;
  measureSpectralError: boolean;
}

/**
 * Sparsifies one weight matrix (rows = outputs, cols = inputs) with the named method and granularity,
 * and measures the damage. Pure: the input is not modified. See {@link SparsifyOptions} for how each
 * granularity interprets `sparsity`.
 * @throws RangeError for a bad shape, method, sparsity or option
 */
export function sparsify(w: Matrix, method: MethodName, options: SparsifyOptions): SparsifyResult {
  if (isEmptyMatrix(w)) {
    // Nothing to prune and no damage to measure.
    return { data: new Float32Array(0), method: method === 'spectral' ? 'magnitude' : method, seed: options.seed ?? 0, nnz: 0, sparsity: 0, spectralError: 0, frobeniusError: 0, spectralNorm: 0 };
  }
  assertMatrix(w, 'weight matrix');
  const resolved = resolveOptions(w, method, options);
  if (method === 'spectral') return searchSpectral(w, resolved);
  const data = sparsifyWith(w, method, resolved, resolved.seed);
  const normOfW = resolved.measureSpectralError ? spectralNorm(w, { tolerance: resolved.measureTolerance }) : Number.NaN;
  const errors = measureSparsificationError(w, data, {
    spectral: resolved.measureSpectralError,
    tolerance: resolved.measureTolerance,
    normOfW,
  });
  return { data, method, seed: resolved.seed, ...summarise(data), ...errors, spectralNorm: normOfW };
}

/** Runs one base method with a given seed (no measurement). */
export function sparsifyWith(
  w: Matrix,
  method: BaseMethodName,
  options: ResolvedSparsifyOptions,
  seed: number,
  workspace: Workspace = new Workspace(),
): Float32Array {
  const { keep, granularity } = options;
  switch (method) {
    case 'magnitude':
      return sparsifyMagnitude(w, keep, granularity);
    case 'l1':
    case 'l2':
    case 'bernstein':
      return sparsifyByImportance(w, method, keep, granularity, seed, workspace);
    case 'hybrid':
      return sparsifyHybrid(w, keep, granularity, seed, options.hybridKeepFraction, workspace);
  }
}

/** nnz and achieved sparsity of a pruned array. */
export function summarise(data: Float32Array): { nnz: number; sparsity: number } {
  const nnz = countNonzero(data);
  return { nnz, sparsity: data.length === 0 ? 0 : (data.length - nnz) / data.length };
}

/**
 * Relative errors of a pruned matrix: ||W − W′||₂/||W||₂ (Lanczos, relative accuracy `tolerance`,
 * default 1e-4) and ||W − W′||_F/||W||_F. Both 0 when W is all zero.
 * @param pruned same shape as `w`
 * @param options.spectral false to skip the spectral norm (spectralError is then NaN)
 * @param options.normOfW ||W||₂ if the caller already has it
 */
export function measureSparsificationError(
  w: Matrix,
  pruned: Float32Array,
  options: { spectral?: boolean; tolerance?: number; normOfW?: number } = {},
): { spectralError: number; frobeniusError: number } {
  if (pruned.length !== w.data.length) {
    throw new RangeError(`The pruned array has ${pruned.length} elements; the matrix has ${w.data.length}.`);
  }
  const frobenius = frobeniusNorm(w.data);
  const frobeniusError = frobenius === 0 ? 0 : frobeniusDistance(w.data, pruned) / frobenius;
  if (options.spectral === false) return { spectralError: Number.NaN, frobeniusError };
  if (frobenius === 0) return { spectralError: 0, frobeniusError };
  const tolerance = options.tolerance ?? 1e-4;
  const norm = options.normOfW ?? spectralNorm(w, { tolerance });
  const differenceNorm = differenceSpectralNorm(w, pruned, tolerance).value;
  return { spectralError: differenceNorm / norm, frobeniusError };
}

function resolveOptions(w: Matrix, method: MethodName, options: SparsifyOptions): ResolvedSparsifyOptions {
  if (!METHOD_NAMES.includes(method)) {
    throw new RangeError(`Method '${String(method)}' is not known; use one of ${METHOD_NAMES.join(', ')}.`);
  }
  const { sparsity } = options;
  if (typeof sparsity !== 'number' || !(sparsity >= 0 && sparsity < 1)) {
    throw new RangeError(`Sparsity ${sparsity} is out of range; use a number in [0, 1).`);
  }
  const granularity = options.granularity ?? { kind: 'unstructured' };
  assertGranularity(granularity);
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`Seed ${seed} is out of range; use a non-negative integer.`);
  }
  const hybridKeepFraction = options.hybridKeepFraction ?? 0.5;
  if (!(hybridKeepFraction >= 0 && hybridKeepFraction <= 1)) {
    throw new RangeError(`hybridKeepFraction ${hybridKeepFraction} is out of range; use a number in [0, 1].`);
  }
  const candidateSeeds = options.candidateSeeds ?? 3;
  if (!Number.isInteger(candidateSeeds) || candidateSeeds < 0) {
    throw new RangeError(`candidateSeeds ${candidateSeeds} is out of range; use a non-negative integer.`);
  }
  const candidateMethods = options.candidateMethods ?? ['magnitude', 'l1', 'l2', 'bernstein', 'hybrid'];
  for (const candidate of candidateMethods) {
    if (candidate === ('spectral' as MethodName) || !METHOD_NAMES.includes(candidate)) {
      throw new RangeError(`Candidate method '${String(candidate)}' is not a base method; use magnitude, l1, l2, bernstein or hybrid.`);
    }
  }
  const measureTolerance = options.measureTolerance ?? 1e-4;
  if (!(measureTolerance > 0 && measureTolerance < 1)) {
    throw new RangeError(`measureTolerance ${measureTolerance} is out of range; use a number in (0, 1).`);
  }
  const numel = w.data.length;
  return {
    sparsity,
    keep: numel - Math.round(sparsity * numel),
    granularity,
    seed,
    hybridKeepFraction,
    candidateSeeds,
    candidateMethods,
    measureTolerance,
    measureSpectralError: options.measureSpectralError ?? true,
  };
}

/**
 * ||W − W′||₂ with its error bound (the true value lies in [value, value + bound]).
 * W − W′ is materialised once in float32 (exact for pruned and untouched entries) so that each Lanczos step
 * streams one array through the blocked kernels instead of two.
 */
export function differenceSpectralNorm(
  w: Matrix,
  pruned: Float32Array,
  tolerance: number,
  workspace: Workspace = new Workspace(),
): { value: number; bound: number } {
  const difference = workspace.float32Array('difference', pruned.length);
  for (let i = 0; i < difference.length; i++) difference[i] = w.data[i] - pruned[i];
  const estimate = estimateTopSingularValues(matrixOperator({ data: difference, rows: w.rows, cols: w.cols }), 1, { tolerance });
  return { value: estimate.values[0], bound: estimate.residuals[0] };
}
