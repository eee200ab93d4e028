import { assertMatrix, isEmptyMatrix, type Matrix } from '../matrix.js';
import { estimateTopSingularValues, type LanczosOptions } from './lanczos.js';
import { kernelOperator, matrixOperator, type LinearOperator } from './operator.js';

/** Options for {@link spectralNorm} and {@link spectralNormOfDifference}. */
export type SpectralNormOptions = LanczosOptions;

/**
 * ||W||₂, the largest singular value, by Lanczos bidiagonalisation (k = 1) with float64 vectors.
 * Lanczos rather than plain power iteration because its convergence depends on the square root of the
 * spectral gap; pruning residuals have flat top spectra where power iteration needs hundreds of steps.
 * Default tolerance 1e-6 (relative residual bound).
 */
export function spectralNorm(w: Matrix, options: SpectralNormOptions = {}): number {
  if (isEmptyMatrix(w)) return 0;
  assertMatrix(w);
  return estimateTopSingularValues(matrixOperator(w), 1, options).values[0];
}

/** ||A − B||₂ without materialising A − B: the operator subtracts on the fly in float64. */
export function spectralNormOfDifference(a: Matrix, b: Matrix, options: SpectralNormOptions = {}): number {
  if (isEmptyMatrix(a) && isEmptyMatrix(b) && a.rows === b.rows && a.cols === b.cols) return 0;
  assertMatrix(a, 'first matrix');
  assertMatrix(b, 'second matrix');
  if (a.rows !== b.rows || a.cols !== b.cols) {
    throw new RangeError(`Cannot subtract a ${b.rows}x${b.cols} matrix from a ${a.rows}x${a.cols} matrix.`);
  }
  return estimateTopSingularValues(differenceOperator(a, b), 1, options).values[0];
}

/** The operator A − B of two same-shaped dense matrices (the difference formed in float64, in the kernels). */
export function differenceOperator(a: Matrix, b: Matrix): LinearOperator {
  return kernelOperator(a.data, b.data, a.rows, a.cols);
}
