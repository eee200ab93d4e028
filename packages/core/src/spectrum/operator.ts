import { kernelArrays, kernelEpoch, matVecF32 } from '../kernels/index.js';
import { multiplyTransposeVector, multiplyVector, type Matrix } from '../matrix.js';

/**
 * Matrices larger than this (their copies in the kernels' memory: a, and b for a difference) are multiplied in
 * JavaScript instead, where they need no copy: WebAssembly memory holds at most 4 GiB, and a copy of a huge
 * embedding would add its size to the process for a measurement.
 */
const KERNEL_COPY_BYTES = 256 << 20;

/** A matrix known only through its products with vectors (float64 in, float64 out). */
export interface LinearOperator {
  rows: number;
  cols: number;
  /** y = A x; x has length cols, y has length rows. */
  multiply(x: Float64Array, y: Float64Array): void;
  /** x = Aᵀ y; y has length rows, x has length cols. */
  multiplyTranspose(y: Float64Array, x: Float64Array): void;
}

/** Wraps a dense row-major matrix as a {@link LinearOperator} (products in the WebAssembly kernels, see {@link kernelOperator}). */
export function matrixOperator(w: Matrix): LinearOperator {
  return kernelOperator(w.data, undefined, w.rows, w.cols);
}

/**
 * The operator of a float32 row-major matrix `a` (rows x cols), or of a − b formed in float64 (exact for pruned
 * and untouched entries), with its products in the WebAssembly kernels (matVecF32: 3-4x the JavaScript loops).
 * The matrices are copied into the kernels' memory at the first product, and again whenever other kernel work
 * took that memory in between (kernelEpoch). Above `copyLimit` bytes of copies, the products run in JavaScript
 * on the arrays in place (the same sums up to rounding).
 */
export function kernelOperator(a: Float32Array, b: Float32Array | undefined, rows: number, cols: number, copyLimit = KERNEL_COPY_BYTES): LinearOperator {
  if (rows * cols * 4 * (b ? 2 : 1) > copyLimit) return javascriptOperator(a, b, rows, cols);
  let held: { epoch: number; a: Float32Array; b: Float32Array | undefined; x: Float64Array; y: Float64Array } | undefined;
  const arrays = () => {
    if (held?.epoch === kernelEpoch()) return held;
    const n = rows * cols;
    // Float32 matrices as float64 arrays of half their length (the kernels' memory hands out float64 arrays).
    const [ka, kb, x, y] = kernelArrays(Math.ceil(n / 2), b ? Math.ceil(n / 2) : 0, cols, rows);
    const fa = new Float32Array(ka!.buffer, ka!.byteOffset, n);
    fa.set(a.subarray(0, n));
    const fb = b ? new Float32Array(kb!.buffer, kb!.byteOffset, n) : undefined;
    fb?.set(b!.subarray(0, n));
    return (held = { epoch: kernelEpoch(), a: fa, b: fb, x: x!, y: y! });
  };
  return {
    rows,
    cols,
    multiply(x, y) {
      const k = arrays();
      k.x.set(x.subarray(0, cols));
      matVecF32(false, rows, cols, k.a, k.b, k.x, k.y);
      y.set(k.y);
    },
    multiplyTranspose(y, x) {
      const k = arrays();
      k.y.set(y.subarray(0, rows));
      matVecF32(true, rows, cols, k.a, k.b, k.x, k.y);
      x.set(k.x);
    },
  };
}

/** The same products in JavaScript, on the arrays in place (huge matrices; see KERNEL_COPY_BYTES). */
function javascriptOperator(a: Float32Array, b: Float32Array | undefined, rows: number, cols: number): LinearOperator {
  if (!b) return { rows, cols, multiply: (x, y) => multiplyVector({ data: a, rows, cols }, x, y), multiplyTranspose: (y, x) => multiplyTransposeVector({ data: a, rows, cols }, y, x) };
  return {
    rows,
    cols,
    multiply(x, y) {
      for (let i = 0, offset = 0; i < rows; i++, offset += cols) {
        let sum = 0;
        for (let j = 0; j < cols; j++) sum += (a[offset + j]! - b[offset + j]!) * x[j]!;
        y[i] = sum;
      }
    },
    multiplyTranspose(y, x) {
      x.fill(0);
      for (let i = 0, offset = 0; i < rows; i++, offset += cols) {
        const yi = y[i]!;
        if (yi === 0) continue;
        for (let j = 0; j < cols; j++) x[j] += yi * (a[offset + j]! - b[offset + j]!);
      }
    },
  };
}
