/**
 * Dense row-major matrices on flat typed arrays, and the few kernels every other module shares.
 * Products accumulate in float64 because weight rows are long (thousands of terms).
 */

/** Row-major dense matrix; rows = output dimension, cols = reduction (input) dimension. */
export interface Matrix {
  data: Float32Array;
  rows: number;
  cols: number;
}

/** Checks that `data.length === rows * cols` and both dimensions are positive integers. */
export function assertMatrix(w: Matrix, label = 'matrix'): void {
  const { rows, cols, data } = w;
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1) {
    throw new RangeError(`The ${label} has shape ${rows}x${cols}; both dimensions must be positive integers.`);
  }
  if (data.length !== rows * cols) {
    throw new RangeError(
      `The ${label} has ${data.length} elements but its shape ${rows}x${cols} needs ${rows * cols}.`,
    );
  }
}

/** y = W x, with x of length cols and y of length rows. */
export function multiplyVector(w: Matrix, x: Float64Array, y: Float64Array): void {
  const { data, rows, cols } = w;
  for (let i = 0, offset = 0; i < rows; i++, offset += cols) {
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += data[offset + j] * x[j];
    y[i] = sum;
  }
}

/** x = Wᵀ y, with y of length rows and x of length cols. */
export function multiplyTransposeVector(w: Matrix, y: Float64Array, x: Float64Array): void {
  const { data, rows, cols } = w;
  x.fill(0);
  for (let i = 0, offset = 0; i < rows; i++, offset += cols) {
    const yi = y[i];
    if (yi === 0) continue;
    for (let j = 0; j < cols; j++) x[j] += yi * data[offset + j];
  }
}

/** Frobenius norm ||a||_F, accumulated in float64. */
export function frobeniusNorm(a: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * a[i];
  return Math.sqrt(sum);
}

/** ||a - b||_F for two arrays of equal length, accumulated in float64. */
export function frobeniusDistance(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    sum += d * d;
  }
  return Math.sqrt(sum);
}

/** Number of nonzero elements. */
export function countNonzero(a: Float32Array): number {
  let count = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== 0) count++;
  return count;
}
