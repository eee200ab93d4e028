import { groupKeep, type Granularity } from '../granularity.js';
import type { Matrix } from '../matrix.js';
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

  const work = Float64Array.from(w.data);
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
  // closes, each row's updates applied while the row is in cache (SparseGPT's lazy batch updates). Every
  // entry still receives the same subtractions in the same order, so the result is bit-identical to
  // updating every column at once.
  const pending = new Float64Array(rows * UPDATE_WINDOW);
  let windowStart = 0;
  let windowEnd = Math.min(cols, UPDATE_WINDOW);
  const flush = () => {
    const width = windowEnd - windowStart;
    if (windowEnd < cols) {
      for (let r = 0; r < rows; r++) {
        const row = r * cols;
        const errors = r * UPDATE_WINDOW;
        for (let t = 0; t < width; t++) {
          const e = pending[errors + t];
          if (e === 0) continue;
          const u = (windowStart + t) * cols;
          for (let k = windowEnd; k < cols; k++) work[row + k] -= e * factor[u + k];
        }
      }
    }
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
  // The n lowest scores, ties taken in index order (as a stable sort by score would): the n-th lowest
  // score from a native numeric sort, then one pass.
  const threshold = Float64Array.from(scores).sort()[n - 1];
  let below = 0;
  for (let i = 0; i < scores.length; i++) if (scores[i] < threshold) below++;
  let ties = n - below;
  for (let i = 0; i < scores.length; i++) {
    const v = scores[i];
    if (v < threshold || (v === threshold && ties-- > 0) || (Number.isNaN(threshold) && Number.isNaN(v) && ties-- > 0)) {
      pruned[Math.floor(i / width) * stride + from + (i % width)] = 1;
    }
  }
  return n;
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

/**
 * U, upper triangular, with H⁻¹ = Uᵀ U for H = gram + λ·mean(diag)·I (zero diagonal entries, inputs
 * that were always zero, are set to 1 first). Computed as the inverse of the "reverse" Cholesky factor
 * Ũ (H = Ũ Ũᵀ, Ũ upper): about K³/2 flops instead of the K³ of inverting H and factoring again.
 * Returns undefined when H is not numerically positive definite.
 */
export function inverseUpperCholesky(gram: Float64Array, n: number, dampening: number): Float64Array | undefined {
  const h = Float64Array.from(gram.subarray(0, n * n));
  let mean = 0;
  for (let i = 0; i < n; i++) {
    if (h[i * n + i] === 0) h[i * n + i] = 1;
    mean += h[i * n + i];
  }
  mean /= n;
  if (!Number.isFinite(mean)) return undefined;
  for (let i = 0; i < n; i++) h[i * n + i] += dampening * mean;
  // Ũ[i][j] for i <= j, from the last column backwards; rows of Ũ are contiguous tails for the dot products.
  const t = new Float64Array(n * n);
  for (let j = n - 1; j >= 0; j--) {
    const rj = j * n;
    let s = h[rj + j];
    for (let k = j + 1; k < n; k++) s -= t[rj + k] * t[rj + k];
    if (!(s > 0) || !Number.isFinite(s)) return undefined;
    const pivot = Math.sqrt(s);
    t[rj + j] = pivot;
    let i = 0;
    // Two rows per sweep share each load of row j's tail.
    for (; i + 2 <= j; i += 2) {
      const r0 = i * n;
      const r1 = r0 + n;
      let v0 = h[r0 + j];
      let v1 = h[r1 + j];
      for (let k = j + 1; k < n; k++) {
        const b = t[rj + k];
        v0 -= t[r0 + k] * b;
        v1 -= t[r1 + k] * b;
      }
      t[r0 + j] = v0 / pivot;
      t[r1 + j] = v1 / pivot;
    }
    for (; i < j; i++) {
      const ri = i * n;
      let v = h[ri + j];
      for (let k = j + 1; k < n; k++) v -= t[ri + k] * t[rj + k];
      t[ri + j] = v / pivot;
    }
  }
  // U = Ũ⁻¹, row by row from the bottom: U[i, :] = -(1/Ũᵢᵢ) Σ_{k>i} Ũᵢₖ U[k, :], U[i][i] = 1/Ũᵢᵢ.
  const u = new Float64Array(n * n);
  const acc = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    acc.fill(0, i);
    const ri = i * n;
    for (let k = i + 1; k < n; k++) {
      const a = t[ri + k];
      if (a === 0) continue;
      const rk = k * n;
      for (let j = k; j < n; j++) acc[j] += a * u[rk + j];
    }
    const inv = 1 / t[ri + i];
    u[ri + i] = inv;
    for (let j = i + 1; j < n; j++) u[ri + j] = -acc[j] * inv;
  }
  return u;
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
    const order = new Uint32Array(cols);
    for (let r = 0; r < rows; r++) {
      // Largest-remainder split: row r gets the zeros between the cumulative targets of rows r and r + 1.
      const rowZeros = Math.round((total * (r + 1)) / rows) - Math.round((total * r) / rows);
      const base = r * cols;
      for (let j = 0; j < cols; j++) order[j] = j;
      // Lowest score first, ties by column: the first rowZeros are dropped.
      order.sort((a, b) => Math.abs(scaled[base + a]) - Math.abs(scaled[base + b]) || a - b);
      for (let k = rowZeros; k < cols; k++) out[base + order[k]] = w.data[base + order[k]];
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
  let num = 0;
  let den = 0;
  // Four rows at a time share each pass over the Gram matrix; a chunk with a row whose change is mostly
  // zeros (kept entries unchanged: magnitude, Wanda) sums each row over its nonzeros only. Terms left out
  // are exact zeros and every sum runs in the same order, so the result is bit-identical to the plain loop.
  const x = new Float64Array(4 * cols);
  const forms = new Float64Array(4);
  const nonzeros = new Int32Array(cols);
  const formsOf = (first: number, count: number, delta: boolean) => {
    let sparse = false;
    for (let q = 0; q < count; q++) {
      const r = first + q;
      let nnz = 0;
      for (let j = 0; j < cols; j++) {
        const v = delta ? w.data[r * cols + j] - pruned[r * cols + j] : w.data[r * cols + j];
        x[q * cols + j] = v;
        if (v !== 0) nnz++;
      }
      if (nnz <= cols / 2) sparse = true;
    }
    if (sparse || count < 4) for (let q = 0; q < count; q++) forms[q] = sparseQuadraticForm(gram, x, q * cols, cols, nonzeros);
    else quadraticForms(gram, x, cols, forms);
  };
  for (let r = 0; r < rows; r += 4) {
    const count = Math.min(4, rows - r);
    formsOf(r, count, true);
    for (let q = 0; q < count; q++) num += forms[q];
    if (withTotal) {
      formsOf(r, count, false);
      for (let q = 0; q < count; q++) den += forms[q];
    }
  }
  return { error: num, total: withTotal ? den : Number.NaN };
}

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

/** xᵀ G x for four vectors stored one after another in `x`, into `out`; entries where x is 0 are skipped. */
function quadraticForms(g: Float64Array, x: Float64Array, n: number, out: Float64Array): void {
  out.fill(0);
  const [o1, o2, o3] = [n, 2 * n, 3 * n];
  for (let i = 0; i < n; i++) {
    const x0 = x[i];
    const x1 = x[o1 + i];
    const x2 = x[o2 + i];
    const x3 = x[o3 + i];
    if (x0 === 0 && x1 === 0 && x2 === 0 && x3 === 0) continue;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    const gi = i * n;
    for (let j = 0; j < n; j++) {
      const v = g[gi + j];
      s0 += v * x[j];
      s1 += v * x[o1 + j];
      s2 += v * x[o2 + j];
      s3 += v * x[o3 + j];
    }
    if (x0 !== 0) out[0] += x0 * s0;
    if (x1 !== 0) out[1] += x1 * s1;
    if (x2 !== 0) out[2] += x2 * s2;
    if (x3 !== 0) out[3] += x3 * s3;
  }
}
