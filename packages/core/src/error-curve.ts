import type { Granularity } from './granularity.js';
import type { Matrix } from './matrix.js';
import { sparsify } from './sparsify/sparsify.js';
import type { MethodName } from './sparsify/types.js';

export interface ErrorCurveOptions {
  /** Sparsifier whose damage is measured. Default `magnitude`. */
  method?: MethodName;
  granularity?: Granularity;
  /** Sparsities to measure, ascending in (0, 1). Default 0.1, 0.2, …, 0.9, 0.95, 0.99. */
  sparsities?: readonly number[];
  /** Which error: `spectral` (default, ||W−W′||₂/||W||₂) or `frobenius`. */
  error?: 'spectral' | 'frobenius';
  /** Relative accuracy of each spectral measurement. Default 1e-2 (a curve for allocation, not a report). */
  tolerance?: number;
  seed?: number;
  /** Forwarded to `spectral` measurements; default 1 seed per random method to keep the curve cheap. */
  candidateSeeds?: number;
}

/** Measured damage of one weight against sparsity, for {@link allocateByCurves}. */
export interface ErrorCurve {
  /** 0, then the measured sparsities. */
  sparsities: number[];
  /** The error at each sparsity (0 at sparsity 0). */
  errors: number[];
  /**
   * {@link interpolateCurve} of the measurements, with the curve continued linearly from the last one to
   * max(1, last error) at s = 1 (every method zeroes the whole matrix there).
   */
  errorAt(sparsity: number): number;
}

/**
 * Measures how much a weight's relative spectral (or Frobenius) error grows with sparsity by sparsifying it
 * at each grid point. One sparsification and one Lanczos norm per point; use it to build the `errorAt`
 * curves of {@link allocateByCurves} for `--allocation spectral`.
 */
export function measureErrorCurve(w: Matrix, options: ErrorCurveOptions = {}): ErrorCurve {
  const grid = options.sparsities ?? [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99];
  const useSpectral = (options.error ?? 'spectral') === 'spectral';
  const sparsities = [0];
  const errors = [0];
  for (const sparsity of grid) {
    if (!(sparsity > sparsities[sparsities.length - 1] && sparsity < 1)) {
      throw new RangeError(`Error-curve sparsities must be ascending in (0, 1); got ${sparsity} after ${sparsities[sparsities.length - 1]}.`);
    }
    const result = sparsify(w, options.method ?? 'magnitude', {
      sparsity,
      granularity: options.granularity,
      seed: options.seed,
      candidateSeeds: options.candidateSeeds ?? 1,
      measureTolerance: options.tolerance ?? 1e-2,
      measureSpectralError: useSpectral,
    });
    sparsities.push(sparsity);
    errors.push(useSpectral ? result.spectralError : result.frobeniusError);
  }
  // Every method zeroes the whole matrix at s = 1 (relative error 1): the curve runs on to there.
  const knots = [...sparsities, 1];
  const ends = [...errors, Math.max(1, errors[errors.length - 1])];
  const errorAt = (sparsity: number): number => interpolateCurve(knots, ends, Math.min(1, Math.max(0, sparsity)));
  return { sparsities, errors, errorAt };
}

/**
 * The one error-curve interpolation: the value at `x` of the curve sampled as `values` on `grid` (ascending),
 * piecewise linear between samples, `values[0]` below the first and, past the last, continued with the last
 * segment's slope (never falling: a slope below 0 counts as 0, since damage does not shrink as sparsity
 * grows). Used for measured sensitivity curves, spectral-error curves and the magnitude error table.
 * @throws RangeError when `grid` is empty or its length differs from `values`
 */
export function interpolateCurve(grid: readonly number[], values: readonly number[], x: number): number {
  const last = grid.length - 1;
  if (last < 0 || values.length !== grid.length) {
    throw new RangeError(`A curve needs as many values as grid points and at least one; got ${values.length} values on ${grid.length} points.`);
  }
  if (x <= grid[0] || last === 0) return values[0];
  if (x > grid[last]) {
    const slope = (values[last] - values[last - 1]) / (grid[last] - grid[last - 1]);
    return values[last] + Math.max(0, slope) * (x - grid[last]);
  }
  // The first grid point at or above x (binary search: the magnitude table has 257 points).
  let low = 1;
  let high = last;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (x <= grid[mid]) high = mid;
    else low = mid + 1;
  }
  const t = (x - grid[low - 1]) / (grid[low] - grid[low - 1]);
  return values[low - 1] + t * (values[low] - values[low - 1]);
}
