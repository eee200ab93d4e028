import { createRandom } from '../random.js';
import type { LinearOperator } from './operator.js';

/** Options for {@link estimateSpectralNormByPower}. */
export interface PowerIterationOptions {
  /** Stop when successive estimates differ by at most tolerance (relative). Default 1e-6. */
  tolerance?: number;
  /** Default 1000. */
  maxIterations?: number;
  /** Seed of the random start vector. Default 0. */
  seed?: number;
}

/**
 * Largest singular value by power iteration on AᵀA (von Mises), float64 vectors.
 * Simple and robust, but its convergence rate is (σ₂/σ₁)², slow for matrices with a flat top spectrum
 * (as random pruning residuals have); {@link spectralNorm} uses Lanczos instead, and this is kept as an
 * independent cross-check.
 */
export function estimateSpectralNormByPower(operator: LinearOperator, options: PowerIterationOptions = {}): number {
  const tolerance = options.tolerance ?? 1e-6;
  const maxIterations = options.maxIterations ?? 1000;
  const random = createRandom(options.seed ?? 0);
  const x = new Float64Array(operator.cols);
  const y = new Float64Array(operator.rows);
  for (let i = 0; i < x.length; i++) x[i] = random.nextGaussian();
  let estimate = 0;
  for (let iteration = 0; iteration < maxIterations; iteration++) {
    let length = 0;
    for (let i = 0; i < x.length; i++) length += x[i] * x[i];
    length = Math.sqrt(length);
    if (length === 0) return 0;
    for (let i = 0; i < x.length; i++) x[i] /= length;
    operator.multiply(x, y);
    let image = 0;
    for (let i = 0; i < y.length; i++) image += y[i] * y[i];
    const next = Math.sqrt(image);
    operator.multiplyTranspose(y, x);
    if (Math.abs(next - estimate) <= tolerance * next) return next;
    estimate = next;
  }
  return estimate;
}
