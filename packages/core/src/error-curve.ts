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
  /** Piecewise-linear interpolation of the measurements; beyond the last point, linear towards 1 at s = 1. */
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
  const last = sparsities.length - 1;
  const errorAt = (sparsity: number): number => {
    const s = Math.min(1, Math.max(0, sparsity));
    if (s >= sparsities[last]) {
      const span = 1 - sparsities[last];
      return span <= 0 ? errors[last] : errors[last] + ((s - sparsities[last]) / span) * (Math.max(1, errors[last]) - errors[last]);
    }
    let i = 0;
    while (sparsities[i + 1] < s) i++;
    const t = (s - sparsities[i]) / (sparsities[i + 1] - sparsities[i]);
    return errors[i] + t * (errors[i + 1] - errors[i]);
  };
  return { sparsities, errors, errorAt };
}
