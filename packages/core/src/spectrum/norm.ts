import { assertMatrix, isEmptyMatrix, type Matrix } from '../matrix.js';
import { estimateTopSingularValues, type LanczosOptions } from './lanczos.js';
import { matrixOperator, type LinearOperator } from './operator.js';

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

/** The operator A − B of two same-shaped dense matrices. */
export function differenceOperator(a: Matrix, b: Matrix): LinearOperator {
  const { rows, cols } = a;
  const p = a.data;
  const q = b.data;
  return {
    rows,
    cols,
    multiply(x, y) {
      for (let i = 0, offset = 0; i < rows; i++, offset += cols) {
        let sum = 0;
        for (let j = 0; j < cols; j++) sum += (p[offset + j] - q[offset + j]) * x[j];
        y[i] = sum;
      }
    },
    multiplyTranspose(y, x) {
      x.fill(0);
      for (let i = 0, offset = 0; i < rows; i++, offset += cols) {
        const yi = y[i];
        if (yi === 0) continue;
        for (let j = 0; j < cols; j++) x[j] += yi * (p[offset + j] - q[offset + j]);
      }
    },
  };
}
