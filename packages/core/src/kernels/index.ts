import { KERNELS_WASM } from './wasm.js';

/**
 * Dense float64 kernels in WebAssembly SIMD (two lanes per instruction, register tiles), for the O(n³) work of
 * data-aware pruning: Gram matrices, Cholesky factors, triangular inverses, re-fit updates, quadratic forms.
 * One kernel family, "NT": C (+|-)= A Bᵀ with A and B row-major, so every operand is read in memory order.
 * Operands live in the module's own memory (see {@link kernelArrays}); every sum is formed the same way on
 * every machine (two interleaved lanes, then added; no fused multiply-add), so results are deterministic.
 */

type Kernel = (k: number, tiles: number, a: number, lda: number, b: number, ldb: number, c: number, ldc: number) => void;
type MatVec = (rows: number, cols: number, a: number, b: number, x: number, y: number) => void;
interface KernelExports {
  memory: WebAssembly.Memory;
  nt4x2_add: Kernel;
  nt4x2_sub: Kernel;
  nt1x2_add: Kernel;
  nt1x2_sub: Kernel;
  mv_f32: MatVec;
  mv_f32_diff: MatVec;
  mtv_f32: MatVec;
  mtv_f32_diff: MatVec;
}

let compiled: WebAssembly.Module | undefined;
let instance: KernelExports | undefined;
/** Counts the hand-outs of kernel memory (see {@link kernelEpoch}). */
let epoch = 0;

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function kernels(): KernelExports {
  if (!instance) {
    compiled ??= new WebAssembly.Module(decodeBase64(KERNELS_WASM));
    instance = new WebAssembly.Instance(compiled, {}).exports as unknown as KernelExports;
  }
  return instance;
}

const PAGE = 65536;
/** Memory kept between operations; more is returned (a fresh instance) by {@link releaseKernelArrays}. */
const KEEP_BYTES = 64 << 20;

/**
 * Float64 arrays of the given lengths in the kernels' memory, one after another (16-byte aligned), zeroed
 * only when the memory is new. They stay valid until the next call of this function or of
 * {@link releaseKernelArrays}: callers copy their operands in, run kernels, and copy results out.
 */
export function kernelArrays(...lengths: number[]): Float64Array[] {
  epoch++;
  const k = kernels();
  let bytes = 0;
  const offsets = lengths.map((length) => {
    const at = bytes;
    bytes += Math.ceil((length * 8) / 16) * 16;
    return at;
  });
  const have = k.memory.buffer.byteLength;
  if (bytes > have) {
    if (bytes > 4 * 1024 ** 3 - PAGE) throw new RangeError(`The kernels need ${bytes} bytes at once; WebAssembly memory holds at most 4 GiB.`);
    k.memory.grow(Math.ceil((bytes - have) / PAGE));
  }
  return lengths.map((length, i) => new Float64Array(k.memory.buffer, offsets[i], length));
}

/** Gives large kernel memory back (the next {@link kernelArrays} starts a fresh instance). */
export function releaseKernelArrays(): void {
  if (instance && instance.memory.buffer.byteLength > KEEP_BYTES) {
    instance = undefined;
    epoch++;
  }
}

/**
 * Changes whenever arrays from {@link kernelArrays} may have been overwritten or replaced (each call hands the same
 * memory out again): a holder of kernel arrays across other code compares it with the value when it took them.
 */
export function kernelEpoch(): number {
  return epoch;
}

function pointer(array: Float64Array | Float32Array, offset: number, memory: WebAssembly.Memory): number {
  if (array.buffer !== memory.buffer) throw new RangeError('Kernel operands must be arrays from kernelArrays() (the memory was replaced since?).');
  return array.byteOffset + offset * array.BYTES_PER_ELEMENT;
}

/**
 * Matrix-vector products with a float32 row-major matrix D (rows x cols): D = A, or A − B formed in float64 when
 * `b` is given; x (cols) and y (rows) float64; every array from {@link kernelArrays} (A and B as Float32Array views
 * of them). `transpose` false: y = D x, each y[i] summed as {@link mvDot} does; true: x = Dᵀ y, each x[p] =
 * ((y[0] D[0][p] + y[1] D[1][p]) + ...) in row order, from zero.
 */
export function matVecF32(transpose: boolean, rows: number, cols: number, a: Float32Array, b: Float32Array | undefined, x: Float64Array, y: Float64Array): void {
  if (rows <= 0 || cols <= 0) return;
  const e = kernels();
  const [ap, xp, yp] = [pointer(a, 0, e.memory), pointer(x, 0, e.memory), pointer(y, 0, e.memory)];
  const bp = b ? pointer(b, 0, e.memory) : 0;
  if (transpose) {
    x.fill(0, 0, cols);
    (b ? e.mtv_f32_diff : e.mtv_f32)(rows, cols, ap, bp, xp, yp);
  } else (b ? e.mv_f32_diff : e.mv_f32)(rows, cols, ap, bp, xp, yp);
}

/**
 * Σ_p d(p)·x[p] for p < cols as the matrix-vector kernel forms it (d(p) = a[p], or a[p] − b[p] in float64): p ≡ 0,
 * 1, 2, 3 (mod 4) summed apart over the whole groups of four, then (S0 + S2) + (S1 + S3), then the trailing p in order.
 */
export function mvDot(a: ArrayLike<number>, aOffset: number, b: ArrayLike<number> | undefined, x: ArrayLike<number>, cols: number): number {
  const d = (p: number) => (b ? a[aOffset + p]! - b[aOffset + p]! : a[aOffset + p]!);
  const s = [0, 0, 0, 0];
  const whole = cols & ~3;
  for (let p = 0; p < whole; p++) s[p & 3]! += d(p) * x[p]!;
  let v = s[0]! + s[2]! + (s[1]! + s[3]!);
  for (let p = whole; p < cols; p++) v += d(p) * x[p]!;
  return v;
}

/**
 * C (+|-)= A Bᵀ for C m x n, A m x k, B n x k (row-major with row strides lda, ldb, ldc; offsets in elements),
 * every array from {@link kernelArrays}. Each entry is Σ over even p plus Σ over odd p (in order), plus the last
 * product when k is odd ({@link ntDot}), then added to or subtracted from C.
 * `triangle` 'upper' computes only the tiles from each strip's first row rightwards, 'lower' only up to its
 * last row: every entry on that side of the diagonal (and the diagonal) is computed, with some next to it.
 */
export function gemmNT(
  mode: 'add' | 'sub',
  m: number,
  n: number,
  k: number,
  a: Float64Array,
  aOffset: number,
  lda: number,
  b: Float64Array,
  bOffset: number,
  ldb: number,
  c: Float64Array,
  cOffset: number,
  ldc: number,
  triangle?: 'upper' | 'lower',
): void {
  if (m <= 0 || n <= 0) return;
  const e = kernels();
  const [ap, bp, cp] = [pointer(a, aOffset, e.memory), pointer(b, bOffset, e.memory), pointer(c, cOffset, e.memory)];
  const [four, one] = mode === 'add' ? [e.nt4x2_add, e.nt1x2_add] : [e.nt4x2_sub, e.nt1x2_sub];
  const even = n & ~1;
  const strip = (row: number, rows: number) => {
    const from = triangle === 'upper' ? row & ~1 : 0;
    const to = triangle === 'lower' ? Math.min(even, (row + rows + 1) & ~1) : even;
    const kernel = rows === 4 ? four : one;
    if (to > from) kernel(k, (to - from) >> 1, ap + row * lda * 8, lda, bp + from * ldb * 8, ldb, cp + (row * ldc + from) * 8, ldc);
    // An odd last column: the same sums in JavaScript.
    if (n !== even && (triangle !== 'lower' || row + rows >= n)) {
      for (let r = row; r < row + rows; r++) {
        const v = ntDot(a, aOffset + r * lda, b, bOffset + (n - 1) * ldb, k);
        const at = cOffset + r * ldc + n - 1;
        c[at] = mode === 'add' ? c[at]! + v : c[at]! - v;
      }
    }
  };
  let row = 0;
  for (; row + 4 <= m; row += 4) strip(row, 4);
  for (; row < m; row++) strip(row, 1);
}

/** Σ_p x[p]·y[p] as the kernels form it: even p and odd p summed apart (in order), then added, then the odd last product. */
export function ntDot(x: ArrayLike<number>, xOffset: number, y: ArrayLike<number>, yOffset: number, k: number): number {
  let even = 0;
  let odd = 0;
  const k2 = k & ~1;
  for (let p = 0; p < k2; p += 2) {
    even += x[xOffset + p]! * y[yOffset + p]!;
    odd += x[xOffset + p + 1]! * y[yOffset + p + 1]!;
  }
  let v = even + odd;
  if (k & 1) v += x[xOffset + k2]! * y[yOffset + k2]!;
  return v;
}
