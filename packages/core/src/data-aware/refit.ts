import { gemmNT, kernelArrays, releaseKernelArrays } from '../kernels/index.js';
import { groupKeep, type Granularity } from '../granularity.js';
import type { Matrix } from '../matrix.js';
import { nthSmallest } from '../select.js';
import { sparsifyMagnitude } from '../sparsify/magnitude.js';

/** Columns whose mask is chosen together (SparseGPT's adaptive mask selection block). */
const MASK_BLOCK = 128;
/** Columns whose updates to later columns are applied together (see refitPrune). */
const UPDATE_WINDOW = 32;

export interface RefitOptions {
  /** Zeros the result must have (unstructured: exactly; N:M and block set their own count). */
  zeros: number;
  granularity?: Granularity;
  /** Dampening added to the Gram diagonal, as a fraction of its mean (SparseGPT's percdamp). Default 0.01. */
  dampening?: number;
  /** A factor from {@link refitFactor} for this Gram matrix, to prune one weight at several sparsities. */
  factor?: RefitFactor;
}

/** The inverse-Hessian factor the re-fit works with, and the dampening it was computed with. */
export interface RefitFactor {
  u: Float64Array;
  dampening: number;
}

/**
 * U with H⁻¹ = Uᵀ U for H = gram + λI (see {@link inverseUpperCholesky}); the dampening starts at
 * `dampening` (default 0.01 of the mean diagonal) and grows tenfold until H is positive definite.
 * @throws RangeError when no dampening helps (NaN or infinite inputs)
 */
export function refitFactor(gram: Float64Array, cols: number, dampening = 0.01): RefitFactor {
  if (gram.length !== cols * cols) throw new RangeError(`The Gram matrix has ${gram.length} entries; a ${cols}-column weight needs ${cols * cols}.`);
  for (let attempt = 0; attempt < 8; attempt++, dampening *= 10) {
    const u = inverseUpperCholesky(gram, cols, dampening);
    if (u) return { u, dampening };
  }
  throw new RangeError('The Gram matrix is not positive definite even with heavy dampening (NaN or infinite inputs?).');
}

/** Rows of G copied into the kernels' memory at once by {@link productWithGramColumns}. */
const GRAM_ROWS = 256;

/**
 * B = W G[:, K] (rows x K.length, row-major) for W rows x cols (row-major) and a symmetric cols x cols G: the
 * right-hand sides of a least-squares re-fit on the kept columns K. In the kernels, as W G[K, :]ᵀ (G's rows K are
 * its columns K); the same sums on every machine.
 */
export function productWithGramColumns(W: Float64Array, rows: number, cols: number, G: Float64Array, K: readonly number[]): Float64Array {
  const k = K.length;
  if (W.length < rows * cols || G.length < cols * cols || K.some((j) => !(j >= 0 && j < cols))) {
    throw new RangeError(`productWithGramColumns needs W of ${rows} x ${cols}, a full ${cols} x ${cols} G (not a packed triangle) and kept columns below ${cols}.`);
  }
  // G's rows are copied GRAM_ROWS at a time (every entry is one sum, whatever the blocks).
  const [w, g, b] = kernelArrays(rows * cols, Math.min(k, GRAM_ROWS) * cols, rows * k) as [Float64Array, Float64Array, Float64Array];
  w.set(W.subarray(0, rows * cols));
  b.fill(0);
  for (let from = 0; from < k; from += GRAM_ROWS) {
    const n = Math.min(GRAM_ROWS, k - from);
    for (let a = 0; a < n; a++) g.set(G.subarray(K[from + a]! * cols, (K[from + a]! + 1) * cols), a * cols);
    gemmNT('add', rows, n, cols, w, 0, cols, g, 0, cols, b, from, k);
  }
  const out = b.slice();
  releaseKernelArrays();
  return out;
}

/**
 * The least-squares solutions X = B H⁻¹ of every row of B (rows x k, row-major) with H⁻¹ = Uᵀ U (U upper
 * triangular, from {@link refitFactor}): T = B Uᵀ, then X = T U, both in the kernels with U's rows (then its
 * columns) copied GRAM_ROWS at a time, so the extra memory stays GRAM_ROWS x k; the same sums on every machine.
 */
export function solveRowsWithFactor(B: Float64Array, rows: number, factor: Float64Array, k: number): Float64Array {
  if (B.length < rows * k || factor.length < k * k) throw new RangeError(`solveRowsWithFactor needs B of ${rows} x ${k} and a ${k} x ${k} factor.`);
  const block = Math.min(k, GRAM_ROWS);
  const [b, u, t, x] = kernelArrays(rows * k, block * k, rows * k, rows * k) as [Float64Array, Float64Array, Float64Array, Float64Array];
  try {
    b.set(B.subarray(0, rows * k));
    t.fill(0);
    x.fill(0);
    // T = B Uᵀ: U's rows `from..from + n` give T's columns.
    for (let from = 0; from < k; from += block) {
      const n = Math.min(block, k - from);
      u.set(factor.subarray(from * k, (from + n) * k));
      gemmNT('add', rows, n, k, b, 0, k, u, 0, k, t, from, k);
    }
    // X = T U: U's columns `from..from + n` (as rows) give X's columns.
    for (let from = 0; from < k; from += block) {
      const n = Math.min(block, k - from);
      for (let a = 0; a < k; a++) {
        const row = a * k + from;
        for (let j = 0; j < n; j++) u[j * k + a] = factor[row + j];
      }
      gemmNT('add', rows, n, k, t, 0, k, u, 0, k, x, from, k);
    }
    return x.slice();
  } finally {
    releaseKernelArrays();
  }
}

export interface RefitResult {
  data: Float32Array;
  /** Dampening fraction actually used (raised when the Gram matrix was not positive definite). */
  dampening: number;
}

/**
 * Data-aware pruning with re-fitting (SparseGPT, Frantar & Alistarh, "SparseGPT: Massive Language Models
 * Can Be Accurately Pruned in One-Shot", 2023): columns are processed left to right; each pruned entry's
 * error is spread over the not-yet-processed columns of its row through the inverse Hessian H⁻¹ of the
 * layer-wise loss ‖W X − W′ X‖², H = X Xᵀ + λI, so that the kept weights compensate for the pruned ones
 * on the subspace the calibration data spans. Masks are chosen every {@link MASK_BLOCK} columns (N:M
 * every M, blocks every C columns) by the OBS saliency w² / [H⁻¹]ⱼⱼ of the updated weights.
 * @param gram X Xᵀ, cols x cols, row-major (not modified)
 * @throws RangeError for mismatched sizes
 */
export function refitPrune(w: Matrix, gram: Float64Array, options: RefitOptions): RefitResult {
  const { rows, cols } = w;
  if (gram.length !== cols * cols) throw new RangeError(`The Gram matrix has ${gram.length} entries; a ${cols}-column weight needs ${cols * cols}.`);
  const granularity = options.granularity ?? { kind: 'unstructured' };
  const { u: factor, dampening } = options.factor ?? refitFactor(gram, cols, options.dampening);

  // The matrix being pruned and the factor's transpose live in the kernels' memory for the deferred updates.
  const [work, factorT, pending] = kernelArrays(rows * cols, cols * cols, rows * UPDATE_WINDOW);
  for (let i = 0; i < work.length; i++) work[i] = w.data[i];
  for (let i = 0; i < cols; i++) for (let k = i; k < cols; k++) factorT[k * cols + i] = factor[i * cols + k];
  const pruned = new Uint8Array(rows * cols);
  const diagonal = new Float64Array(cols);
  for (let j = 0; j < cols; j++) diagonal[j] = factor[j * cols + j];
  const saliency = (r: number, j: number) => (work[r * cols + j] / diagonal[j]) ** 2;
  const totalZeros = Math.min(rows * cols, Math.max(0, Math.round(options.zeros)));
  let zerosDone = 0;
  const maskStep = granularity.kind === 'nm' ? granularity.m : granularity.kind === 'block' ? granularity.c * Math.max(1, Math.floor(MASK_BLOCK / granularity.c)) : MASK_BLOCK;
  const err = new Float64Array(rows);
  // Each pruned entry's error updates the not-yet-processed columns of its row. Columns inside a window of
  // UPDATE_WINDOW columns are updated at once; columns beyond it get the window's updates together when it
  // closes (SparseGPT's lazy batch updates): work[:, end:] -= E · U[window, end:], one kernel call.
  let windowStart = 0;
  let windowEnd = Math.min(cols, UPDATE_WINDOW);
  pending.fill(0);
  const flush = () => {
    const width = windowEnd - windowStart;
    if (windowEnd < cols) gemmNT('sub', rows, cols - windowEnd, width, pending, 0, UPDATE_WINDOW, factorT, windowEnd * cols + windowStart, cols, work, windowEnd, cols);
    pending.fill(0);
  };
  for (let j = 0; j < cols; j++) {
    const maskAt = j % maskStep === 0;
    // A new window where the last one ends, or where a mask is chosen over columns beyond it (they must be current).
    if (j === windowEnd || (maskAt && Math.min(cols, j + maskStep) > windowEnd)) {
      flush();
      windowStart = j;
      windowEnd = Math.min(cols, j + UPDATE_WINDOW);
    }
    if (maskAt) {
      const end = Math.min(cols, j + maskStep);
      if (granularity.kind === 'unstructured') {
        const target = Math.round((totalZeros * end) / cols) - zerosDone;
        zerosDone += chooseSmallest(rows, j, end, target, saliency, pruned, cols);
      } else if (granularity.kind === 'nm') {
        const drop = end - j - groupKeep(granularity.n, granularity.m, end - j);
        for (let r = 0; r < rows; r++) chooseSmallest(1, j, end, drop, (_, c) => saliency(r, c), pruned.subarray(r * cols), cols);
      } else {
        const target = Math.round((totalZeros * end) / cols) - zerosDone;
        zerosDone += chooseBlocks(rows, j, end, granularity.r, granularity.c, target, saliency, pruned, cols);
      }
    }
    const d = diagonal[j];
    let any = false;
    for (let r = 0; r < rows; r++) {
      const index = r * cols + j;
      if (pruned[index]) {
        err[r] = work[index] / d;
        work[index] = 0;
        any ||= err[r] !== 0;
      } else err[r] = 0;
    }
    if (!any || j + 1 === cols) continue;
    const u = j * cols;
    const slot = j - windowStart;
    for (let r = 0; r < rows; r++) {
      const e = err[r];
      if (e === 0) continue;
      pending[r * UPDATE_WINDOW + slot] = e;
      const row = r * cols;
      for (let k = j + 1; k < windowEnd; k++) work[row + k] -= e * factor[u + k];
    }
  }
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = pruned[i] ? 0 : work[i];
  releaseKernelArrays();
  return { data, dampening };
}

/** Marks the `count` entries of columns [from, to) of `rows` rows with the lowest score; returns how many. */
function chooseSmallest(
  rows: number,
  from: number,
  to: number,
  count: number,
  score: (r: number, c: number) => number,
  pruned: Uint8Array,
  stride: number,
): number {
  const width = to - from;
  const n = Math.min(rows * width, Math.max(0, count));
  if (n === 0) return 0;
  const scores = new Float64Array(rows * width);
  for (let r = 0; r < rows; r++) for (let c = 0; c < width; c++) scores[r * width + c] = score(r, from + c);
  markLowest(scores, n, (i) => (pruned[Math.floor(i / width) * stride + from + (i % width)] = 1));
  return n;
}

/**
 * Calls `mark` for the indices of the `n` lowest `scores` (NaN above every number), ties taken in index
 * order: the choice of a stable sort by score, from the n-th lowest score (linear-time selection) and one pass.
 */
function markLowest(scores: Float64Array, n: number, mark: (index: number) => void): void {
  if (n <= 0) return;
  const threshold = nthSmallest(Float64Array.from(scores), n - 1);
  let below = 0;
  for (let i = 0; i < scores.length; i++) if (scores[i] < threshold) below++;
  let ties = n - below;
  for (let i = 0; i < scores.length; i++) {
    const v = scores[i];
    if (v < threshold || (v === threshold && ties-- > 0) || (Number.isNaN(threshold) && Number.isNaN(v) && ties-- > 0)) mark(i);
  }
}

/** Drops r x c tiles of columns [from, to) in increasing saliency until about `target` elements are dropped. */
function chooseBlocks(
  rows: number,
  from: number,
  to: number,
  r: number,
  c: number,
  target: number,
  saliency: (row: number, col: number) => number,
  pruned: Uint8Array,
  stride: number,
): number {
  const tiles: Array<{ row: number; col: number; size: number; score: number }> = [];
  for (let row = 0; row < rows; row += r) {
    for (let col = from; col < to; col += c) {
      const [height, width] = [Math.min(r, rows - row), Math.min(c, to - col)];
      let score = 0;
      for (let i = row; i < row + height; i++) for (let j = col; j < col + width; j++) score += saliency(i, j);
      tiles.push({ row, col, size: height * width, score });
    }
  }
  tiles.sort((a, b) => a.score - b.score || a.row - b.row || a.col - b.col);
  let dropped = 0;
  for (const tile of tiles) {
    if (Math.abs(dropped + tile.size - target) >= Math.abs(dropped - target)) continue;
    dropped += tile.size;
    for (let i = tile.row; i < tile.row + Math.min(r, rows - tile.row); i++) {
      for (let j = tile.col; j < tile.col + Math.min(c, to - tile.col); j++) pruned[i * stride + j] = 1;
    }
  }
  return dropped;
}

/** Rows and columns of the blocks the Cholesky factor and its inverse are computed in. */
const FACTOR_BLOCK = 64;

/**
 * U, upper triangular, with H⁻¹ = Uᵀ U for H = gram + λ·mean(diag)·I (zero diagonal entries, inputs
 * that were always zero, are set to 1 first). With P the reversal permutation, P H P = L Lᵀ (L lower, the
 * Cholesky factor) gives H = Ũ Ũᵀ for the upper Ũ = P L P, so U = Ũ⁻¹ = P L⁻¹ P: a blocked Cholesky
 * factorisation and a blocked triangular inverse, each about n³/3 flops, almost all in the WebAssembly
 * kernel (trailing updates and off-diagonal blocks); the small diagonal blocks in JavaScript.
 * Returns undefined when H is not numerically positive definite.
 */
export function inverseUpperCholesky(gram: Float64Array, n: number, dampening: number): Float64Array | undefined {
  let mean = 0;
  for (let i = 0; i < n; i++) mean += gram[i * n + i] === 0 ? 1 : gram[i * n + i];
  mean /= n;
  if (!Number.isFinite(mean)) return undefined;
  const [l, xt, t] = kernelArrays(n * n, n * n, FACTOR_BLOCK * FACTOR_BLOCK);
  try {
    // L starts as P H P (lower triangle used), dampened.
    for (let i = 0; i < n; i++) {
      const src = (n - 1 - i) * n + n - 1;
      for (let j = 0; j <= i; j++) l[i * n + j] = gram[src - j];
      const d = gram[(n - 1 - i) * (n + 1)];
      l[i * n + i] = (d === 0 ? 1 : d) + dampening * mean;
    }
    if (!choleskyInPlace(l, n)) return undefined;
    invertLowerTransposed(l, xt, t, n);
    // U[i][j] = L⁻¹[n-1-i][n-1-j] = Xᵀ[n-1-j][n-1-i], for j >= i.
    const u = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = i; j < n; j++) u[i * n + j] = xt[(n - 1 - j) * n + n - 1 - i];
    return u;
  } finally {
    releaseKernelArrays();
  }
}

/** Lower Cholesky factor of the lower triangle of `a` (n x n, row-major, in kernel memory), in place; false if not positive definite. */
function choleskyInPlace(a: Float64Array, n: number): boolean {
  for (let kb = 0; kb < n; kb += FACTOR_BLOCK) {
    const end = Math.min(n, kb + FACTOR_BLOCK);
    // The diagonal block (already updated by every block before it).
    for (let j = kb; j < end; j++) {
      const rj = j * n;
      let s = a[rj + j];
      for (let p = kb; p < j; p++) s -= a[rj + p] * a[rj + p];
      if (!(s > 0) || !Number.isFinite(s)) return false;
      const pivot = Math.sqrt(s);
      a[rj + j] = pivot;
      for (let i = j + 1; i < end; i++) {
        const ri = i * n;
        let v = a[ri + j];
        for (let p = kb; p < j; p++) v -= a[ri + p] * a[rj + p];
        a[ri + j] = v / pivot;
      }
    }
    if (end === n) break;
    // The panel below it: L21 = A21 L11⁻ᵀ, row by row.
    for (let i = end; i < n; i++) {
      const ri = i * n;
      for (let j = kb; j < end; j++) {
        const rj = j * n;
        let v = a[ri + j];
        for (let p = kb; p < j; p++) v -= a[ri + p] * a[rj + p];
        a[ri + j] = v / a[rj + j];
      }
    }
    // The trailing matrix: A22 -= L21 L21ᵀ (lower triangle).
    const m = n - end;
    gemmNT('sub', m, m, end - kb, a, end * n + kb, n, a, end * n + kb, n, a, end * n + end, n, 'lower');
  }
  return true;
}

/**
 * X = L⁻¹ for the lower factor in `l`, stored transposed into `xt` (xt[c*n + k] = X[k][c]), block row by
 * block row: X[I,J] = −L[I,I]⁻¹ · L[I, J..I) · X[J..I), J), the product in the kernel (both operands are
 * rows: L's row and X's column = xt's row). `t` is scratch for one block.
 */
function invertLowerTransposed(l: Float64Array, xt: Float64Array, t: Float64Array, n: number): void {
  xt.fill(0);
  const B = FACTOR_BLOCK;
  for (let ib = 0; ib < n; ib += B) {
    const iEnd = Math.min(n, ib + B);
    const nb = iEnd - ib;
    // The diagonal block's inverse by forward substitution: X[i][c] for c <= i within the block.
    for (let c = ib; c < iEnd; c++) {
      xt[c * n + c] = 1 / l[c * n + c];
      for (let i = c + 1; i < iEnd; i++) {
        let v = 0;
        for (let k = c; k < i; k++) v -= l[i * n + k] * xt[c * n + k];
        xt[c * n + i] = v / l[i * n + i];
      }
    }
    for (let jb = 0; jb < ib; jb += B) {
      const jEnd = Math.min(n, jb + B);
      // T = L[I, jb..ib) · X[jb..ib, J] (T[r][c] in t[r*B + c]).
      t.fill(0);
      gemmNT('add', nb, jEnd - jb, ib - jb, l, ib * n + jb, n, xt, jb * n + jb, n, t, 0, B);
      // X[I, J] = −X[I, I] · T, X[I, I] lower.
      for (let c = 0; c < jEnd - jb; c++) {
        for (let r = 0; r < nb; r++) {
          let v = 0;
          for (let q = 0; q <= r; q++) v -= xt[(ib + q) * n + ib + r] * t[q * B + c];
          xt[(jb + c) * n + ib + r] = v;
        }
      }
    }
  }
}

/**
 * Activation-aware pruning (Wanda, Sun, Liu, Bair & Kolter, "A Simple and Effective Pruning Approach for
 * Large Language Models", 2023): score |Wᵢⱼ|·‖Xⱼ‖, compared within each output row (every row gets the
 * same share of the zeros, exact in total); N:M and block patterns keep the highest-scoring groups/tiles.
 * Kept weights are not changed.
 * @param norms ‖Xⱼ‖ per input column (length cols), or per entry (length rows·cols) when rows see different
 *   inputs (grouped convolutions: each group of rows has its own input channels)
 */
export function wandaPrune(w: Matrix, norms: Float64Array, zeros: number, granularity: Granularity = { kind: 'unstructured' }): Float32Array {
  const { rows, cols } = w;
  if (norms.length !== cols && norms.length !== rows * cols) throw new RangeError(`Wanda needs one input norm per column (${cols}) or per entry (${rows * cols}), got ${norms.length}.`);
  const perEntry = norms.length !== cols;
  const scaled = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) scaled[r * cols + j] = w.data[r * cols + j] * norms[perEntry ? r * cols + j : j];
  const out = new Float32Array(rows * cols);
  if (granularity.kind === 'unstructured') {
    const total = Math.min(rows * cols, Math.max(0, Math.round(zeros)));
    const scores = new Float64Array(cols);
    for (let r = 0; r < rows; r++) {
      // Largest-remainder split: row r gets the zeros between the cumulative targets of rows r and r + 1.
      const rowZeros = Math.round((total * (r + 1)) / rows) - Math.round((total * r) / rows);
      const base = r * cols;
      for (let j = 0; j < cols; j++) {
        scores[j] = Math.abs(scaled[base + j]);
        out[base + j] = w.data[base + j];
      }
      // Lowest score first, ties by column: the first rowZeros are dropped.
      markLowest(scores, rowZeros, (j) => (out[base + j] = 0));
    }
    return out;
  }
  const kept = sparsifyMagnitude({ data: scaled, rows, cols }, rows * cols - Math.round(zeros), granularity);
  for (let i = 0; i < out.length; i++) if (kept[i] !== 0) out[i] = w.data[i];
  return out;
}

/**
 * Relative reconstruction error on the calibration data, ‖(W − W′) X‖_F / ‖W X‖_F, from the Gram matrix
 * X Xᵀ (tr(Δ G Δᵀ) / tr(W G Wᵀ)). 0 when W X is zero.
 */
export function reconstructionError(w: Matrix, pruned: Float32Array, gram: Float64Array): number {
  const { error, total } = reconstructionEnergy(w, pruned, gram);
  return total > 0 ? Math.sqrt(Math.max(0, error) / total) : 0;
}

/**
 * ‖(W − W′) X‖_F² (`error`) and ‖W X‖_F² (`total`, skipped as NaN when `withTotal` is false) from the
 * Gram matrix, to sum over several matrices. Only the changed entries of each row enter the error.
 */
export function reconstructionEnergy(w: Matrix, pruned: Float32Array, gram: Float64Array, withTotal = true): { error: number; total: number } {
  const { rows, cols } = w;
  // Rows whose change is mostly zeros (few entries pruned) sum over their nonzeros only (nnz² scalar
  // products cost more than the kernel's n² above n/4 or so); the others go in batches through the kernel: S = Δ G, then each row's Σ_j δ_j s_j.
  const [g, x, s] = kernelArrays(cols * cols, FORM_BATCH * cols, FORM_BATCH * cols);
  g.set(gram.subarray(0, cols * cols));
  const nonzeros = new Int32Array(cols);
  const one = new Float64Array(cols);
  const energy = (delta: boolean): number => {
    const forms = formSums(g, cols, x, s);
    for (let r = 0; r < rows; r++) {
      let nnz = 0;
      for (let j = 0; j < cols; j++) {
        const v = delta ? w.data[r * cols + j] - pruned[r * cols + j] : w.data[r * cols + j];
        one[j] = v;
        if (v !== 0) nnz++;
      }
      if (nnz === 0) continue;
      if (nnz <= cols / 4) forms.addValue(sparseQuadraticForm(gram, one, 0, cols, nonzeros));
      else forms.addRow(one, 0);
    }
    return forms.sum();
  };
  try {
    return { error: energy(true), total: withTotal ? energy(false) : Number.NaN };
  } finally {
    releaseKernelArrays();
  }
}

/**
 * Σ_m x_m G[S, S] x_mᵀ over the rows x_m of `x` (rows × |S|, row-major), S = `columns` of the cols × cols Gram
 * matrix G: the energy ‖Δ X‖_F² of a change Δ that is zero outside S, at |S|² per row instead of cols².
 */
export function restrictedEnergy(x: Float64Array, rows: number, gram: Float64Array, cols: number, columns: readonly number[]): number {
  const n = columns.length;
  if (gram.length < cols * cols || columns.some((j) => !(j >= 0 && j < cols))) throw new RangeError(`restrictedEnergy needs a full ${cols} x ${cols} Gram matrix and columns below ${cols}.`);
  if (x.length < rows * n) throw new RangeError(`restrictedEnergy: ${rows} rows of ${n} values need ${rows * n} entries; got ${x.length}.`);
  if (n === 0 || rows === 0) return 0;
  const [g, xb, s] = kernelArrays(n * n, FORM_BATCH * n, FORM_BATCH * n);
  try {
    for (let a = 0; a < n; a++) {
      const from = columns[a]! * cols;
      for (let b = 0; b < n; b++) g[a * n + b] = gram[from + columns[b]!]!;
    }
    const forms = formSums(g, n, xb, s);
    for (let r = 0; r < rows; r++) forms.addRow(x, r * n);
    return forms.sum();
  } finally {
    releaseKernelArrays();
  }
}

/**
 * Sums quadratic forms x g xᵀ of n-vectors (g n × n, and the batch x and products s, in kernel memory): rows are
 * batched FORM_BATCH at a time through the kernel (S = X g, then each row's Σ_j x_j s_j); values computed
 * elsewhere join the sum in the order they come.
 */
function formSums(g: Float64Array, n: number, x: Float64Array, s: Float64Array): { addRow(row: Float64Array, offset: number): void; addValue(value: number): void; sum(): number } {
  let total = 0;
  let batch = 0;
  const flush = () => {
    if (batch === 0) return;
    s.fill(0, 0, batch * n);
    gemmNT('add', batch, n, n, x, 0, n, g, 0, n, s, 0, n);
    for (let q = 0; q < batch; q++) {
      let form = 0;
      for (let j = 0; j < n; j++) form += x[q * n + j] * s[q * n + j];
      total += form;
    }
    batch = 0;
  };
  return {
    addRow(row, offset) {
      x.set(row.subarray(offset, offset + n), batch * n);
      if (++batch === FORM_BATCH) flush();
    },
    addValue(value) {
      total += value;
    },
    sum() {
      flush();
      return total;
    },
  };
}

/** Rows whose quadratic forms one kernel call computes. */
const FORM_BATCH = 32;

/** xᵀ G x for the vector at x[offset, offset + n), over its nonzero entries only. */
function sparseQuadraticForm(g: Float64Array, x: Float64Array, offset: number, n: number, nonzeros: Int32Array): number {
  let count = 0;
  for (let j = 0; j < n; j++) if (x[offset + j] !== 0) nonzeros[count++] = j;
  let total = 0;
  for (let a = 0; a < count; a++) {
    const i = nonzeros[a];
    const gi = i * n;
    let s = 0;
    for (let b = 0; b < count; b++) {
      const j = nonzeros[b];
      s += g[gi + j] * x[offset + j];
    }
    total += x[offset + i] * s;
  }
  return total;
}
