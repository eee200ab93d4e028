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

/**
 * True for a matrix with no elements (a dimension of 0, e.g. from a weight with a zero-sized dim). The
 * numeric routines answer those directly (no singular values, norm 0, nothing to prune) instead of
 * iterating on an empty operator.
 */
export function isEmptyMatrix(w: Matrix): boolean {
  return Number.isInteger(w.rows) && Number.isInteger(w.cols) && w.rows >= 0 && w.cols >= 0 && w.rows * w.cols === 0 && w.data.length === 0;
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

/**
 * y = W x, with x of length cols and y of length rows.
 * Four rows per sweep share each load of x[j]; four independent float64 sums keep the FPU busy.
 */
export function multiplyVector(w: Matrix, x: Float64Array, y: Float64Array): void {
  const { data, rows, cols } = w;
  let i = 0;
  for (; i + 4 <= rows; i += 4) {
    const o0 = i * cols;
    const o1 = o0 + cols;
    const o2 = o1 + cols;
    const o3 = o2 + cols;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let j = 0; j < cols; j++) {
      const xj = x[j];
      s0 += data[o0 + j] * xj;
      s1 += data[o1 + j] * xj;
      s2 += data[o2 + j] * xj;
      s3 += data[o3 + j] * xj;
    }
    y[i] = s0;
    y[i + 1] = s1;
    y[i + 2] = s2;
    y[i + 3] = s3;
  }
  for (; i < rows; i++) {
    const offset = i * cols;
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += data[offset + j] * x[j];
    y[i] = sum;
  }
}

/**
 * x = Wᵀ y, with y of length rows and x of length cols.
 * Four rows per sweep, so each x[j] is loaded and stored once per four rows.
 */
export function multiplyTransposeVector(w: Matrix, y: Float64Array, x: Float64Array): void {
  const { data, rows, cols } = w;
  x.fill(0);
  let i = 0;
  for (; i + 4 <= rows; i += 4) {
    const o0 = i * cols;
    const o1 = o0 + cols;
    const o2 = o1 + cols;
    const o3 = o2 + cols;
    const y0 = y[i];
    const y1 = y[i + 1];
    const y2 = y[i + 2];
    const y3 = y[i + 3];
    for (let j = 0; j < cols; j++) {
      x[j] += y0 * data[o0 + j] + y1 * data[o1 + j] + y2 * data[o2 + j] + y3 * data[o3 + j];
    }
  }
  for (; i < rows; i++) {
    const offset = i * cols;
    const yi = y[i];
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

/** Number of nonzero elements (NaN counts as nonzero, ±0 as zero). Branch-free on the float bits. */
export function countNonzero(a: Float32Array): number {
  const bits = new Int32Array(a.buffer, a.byteOffset, a.length);
  let count = 0;
  for (let i = 0; i < bits.length; i++) count += ((bits[i] & 0x7fffffff) + 0x7fffffff) >>> 31;
  return count;
}
