import { assertGranularity, type Granularity } from '../granularity.js';
import { assertMatrix, isEmptyMatrix, type Matrix } from '../matrix.js';
import { spectralNorm } from '../spectrum/norm.js';
import { sparsifyWith } from './base-methods.js';
import { measureSparsificationError, summarise } from './measure.js';
import { searchSpectral } from './spectral.js';
import { METHOD_NAMES, type MethodName, type ResolvedSparsifyOptions, type SparsifyOptions, type SparsifyResult } from './types.js';

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
