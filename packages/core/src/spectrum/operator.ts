import { multiplyTransposeVector, multiplyVector, type Matrix } from '../matrix.js';

/** A matrix known only through its products with vectors (float64 in, float64 out). */
export interface LinearOperator {
  rows: number;
  cols: number;
  /** y = A x; x has length cols, y has length rows. */
  multiply(x: Float64Array, y: Float64Array): void;
  /** x = Aᵀ y; y has length rows, x has length cols. */
  multiplyTranspose(y: Float64Array, x: Float64Array): void;
}

/** Wraps a dense row-major matrix as a {@link LinearOperator}. */
export function matrixOperator(w: Matrix): LinearOperator {
  return {
    rows: w.rows,
    cols: w.cols,
    multiply: (x, y) => multiplyVector(w, x, y),
    multiplyTranspose: (y, x) => multiplyTransposeVector(w, y, x),
  };
}
