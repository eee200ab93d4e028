import { gemmNT, kernelArrays, releaseKernelArrays } from '../kernels/index.js';

/**
 * Statistics of the inputs a weight matrix sees, accumulated over calibration samples.
 * A weight viewed as W [rows, cols] maps input vectors x (length cols) to W x; a grouped convolution has
 * one input space per group (rows of group g see only group g's input channels), so statistics are kept
 * per group. For group g:
 * - `sumSquares[g*cols + j]` = Σ x_j² over every input vector seen (the squared norm of row j of X);
 * - `gram` (optional) = X Xᵀ, cols x cols, row-major, per group; the form of Σ_x ‖(W − W′) x‖² that
 *   data-aware pruning minimises.
 */
export interface InputStats {
  cols: number;
  groups: number;
  /** Input vectors accumulated per group. */
  count: number;
  sumSquares: Float64Array;
  gram?: Float64Array;
  /**
   * True when each group's Gram matrix is stored as its upper triangle, row by row (cols·(cols+1)/2 values
   * per group): half the memory, the same numbers; {@link groupGram} unpacks. Statistics are created packed
   * (`createInputStats(…, { packed: true })`, accumulated so from the first sample, never held full) or
   * packed when finished ({@link packInputStats}).
   */
  packed?: boolean;
}

/** Bytes the Gram matrices of a weight with these dimensions take (float64). */
export function gramBytes(cols: number, groups: number): number {
  return groups * cols * cols * 8;
}

/**
 * Empty statistics. With `packed` the Gram matrices are upper triangles from the start: accumulation gives
 * the same numbers as into full matrices packed afterwards, and the full matrices never exist.
 */
export function createInputStats(cols: number, groups: number, withGram: boolean, options: { packed?: boolean } = {}): InputStats {
  if (!Number.isInteger(cols) || cols < 1 || !Number.isInteger(groups) || groups < 1) {
    throw new RangeError(`Input statistics need cols >= 1 and groups >= 1; got cols=${cols}, groups=${groups}.`);
  }
  const packed = withGram && options.packed === true;
  return {
    cols,
    groups,
    count: 0,
    sumSquares: new Float64Array(groups * cols),
    ...(withGram ? { gram: new Float64Array(packed ? (groups * cols * (cols + 1)) / 2 : groups * cols * cols) } : {}),
    ...(packed ? { packed } : {}),
  };
}

/**
 * Where row i of group `group`'s Gram matrix is stored, from the column the kernels read and write it
 * (full: the even column at or left of the diagonal; packed: the diagonal): offset and first column.
 */
function gramRow(stats: InputStats, group: number, i: number): { at: number; from: number } {
  const n = stats.cols;
  if (stats.packed) return { at: (group * n * (n + 1)) / 2 + i * n - (i * (i - 1)) / 2, from: i };
  const from = i & ~1;
  return { at: group * n * n + i * n + from, from };
}

/** Copies the stored upper triangle of a group's Gram matrix into `g` (full, in the kernels' memory), or back. */
function copyGram(stats: InputStats, group: number, g: Float64Array, direction: 'in' | 'out'): void {
  const { cols, gram } = stats;
  for (let i = 0; i < cols; i++) {
    const { at, from } = gramRow(stats, group, i);
    if (direction === 'in') g.set(gram!.subarray(at, at + cols - from), i * cols + from);
    else gram!.set(g.subarray(i * cols + from, (i + 1) * cols), at);
  }
}

/** Vectors buffered per group before they are folded into the Gram matrix (one pass over it per batch). */
const BATCH = 256;

export interface Pending {
  /** Column-major batch: input dim i of vector v at i * BATCH + v. */
  columns: Float32Array;
  count: number;
}

const pendingOf = new WeakMap<InputStats, Pending[]>();

/**
 * Adds `count` input vectors of group `group`, stored as the rows of `vectors` (count x cols, row-major).
 * Norms are updated at once; Gram updates are batched ({@link BATCH} vectors per pass over the matrix), so
 * call {@link finishInputStats} before reading `gram`.
 */
export function accumulateInputs(stats: InputStats, group: number, vectors: Float32Array, count: number): void {
  const { cols } = stats;
  if (vectors.length < count * cols) throw new RangeError(`accumulateInputs: ${count} vectors of ${cols} need ${count * cols} values, got ${vectors.length}.`);
  const norms = stats.sumSquares;
  const normBase = group * cols;
  if (group === 0) stats.count += count;
  if (!stats.gram) {
    for (let v = 0; v < count; v++) {
      const o = v * cols;
      for (let i = 0; i < cols; i++) norms[normBase + i] += vectors[o + i] * vectors[o + i];
    }
    return;
  }
  const batch = pendingBatch(stats, group);
  // Norms and the batch in one pass: each column's sum still runs over the vectors in order.
  const columns = batch.columns;
  for (let v = 0; v < count; v++) {
    const o = v * cols;
    const at = batch.count;
    for (let i = 0; i < cols; i++) {
      const x = vectors[o + i];
      norms[normBase + i] += x * x;
      columns[i * BATCH + at] = x;
    }
    if (++batch.count === BATCH) flush(stats, group, batch);
  }
}

/**
 * For writers that cut input vectors themselves (im2col): the group's pending batch, written in place (input
 * dim i of the next vector at `columns[i * BATCH + count]`, its square added to `sumSquares` in vector order),
 * then {@link addedVector}. The same numbers as {@link accumulateInputs} with the same vectors, without a
 * row-major copy in between. Only for statistics with a Gram matrix.
 */
export function pendingBatch(stats: InputStats, group: number): Pending {
  let pending = pendingOf.get(stats);
  if (!pending) pendingOf.set(stats, (pending = Array.from({ length: stats.groups }, () => ({ columns: new Float32Array(0), count: 0 }))));
  const batch = pending[group];
  if (batch.columns.length === 0) batch.columns = new Float32Array(stats.cols * BATCH);
  return batch;
}

/** Counts the vector just written into {@link pendingBatch}'s batch, and folds the batch in when it is full. */
export function addedVector(stats: InputStats, group: number, batch: Pending): void {
  if (group === 0) stats.count++;
  if (++batch.count === BATCH) flush(stats, group, batch);
}

/** Vectors a pending batch holds before it is folded in; input dim i of vector v is at i * PENDING_STRIDE + v. */
export const PENDING_STRIDE = BATCH;

/**
 * Adds `count` input vectors of group `group` stored as the columns of `columns` (cols x count, row-major: input
 * dim i of vector v at i * count + v), e.g. a 1x1 convolution's input plane by plane. No im2col and no
 * transposition: norms at once, the Gram matrix by the kernel in one call per chunk of vectors.
 */
export function accumulateInputColumns(stats: InputStats, group: number, columns: Float32Array, count: number): void {
  const { cols } = stats;
  if (columns.length < count * cols) throw new RangeError(`accumulateInputColumns: ${count} vectors of ${cols} need ${count * cols} values, got ${columns.length}.`);
  const norms = stats.sumSquares;
  for (let i = 0; i < cols; i++) {
    let sum = 0;
    for (let v = 0; v < count; v++) sum += columns[i * count + v] * columns[i * count + v];
    norms[group * cols + i] += sum;
  }
  if (group === 0) stats.count += count;
  if (!stats.gram || count === 0) return;
  const chunk = Math.max(BATCH, Math.min(count, Math.floor((16 << 20) / (8 * cols))));
  const [x, g] = kernelArrays(cols * chunk, cols * cols);
  copyGram(stats, group, g, 'in');
  for (let start = 0; start < count; start += chunk) {
    const n = Math.min(chunk, count - start);
    for (let i = 0; i < cols; i++) for (let v = 0; v < n; v++) x[i * n + v] = columns[i * count + start + v];
    gemmNT('add', cols, cols, n, x, 0, n, x, 0, n, g, 0, cols, 'upper');
  }
  copyGram(stats, group, g, 'out');
}

/**
 * Folds a batch into the upper triangle of the group's Gram matrix, G += Xᵀ X, with the WebAssembly kernel
 * (the batch's columns are the kernel's rows, so both operands stream in order). Tiles on the diagonal also
 * add to a few entries below it, which {@link finishInputStats} overwrites with their mirror.
 */
function flush(stats: InputStats, group: number, batch: Pending): void {
  const { cols } = stats;
  const n = batch.count;
  const [x, g] = kernelArrays(cols * n, cols * cols);
  // A full batch has the kernel's layout already (stride BATCH): one copy; a partial one is compacted.
  if (n === BATCH) x.set(batch.columns);
  else for (let i = 0; i < cols; i++) for (let v = 0; v < n; v++) x[i * n + v] = batch.columns[i * BATCH + v];
  // Only the upper triangle goes in and out (see gramRow).
  copyGram(stats, group, g, 'in');
  gemmNT('add', cols, cols, n, x, 0, n, x, 0, n, g, 0, cols, 'upper');
  copyGram(stats, group, g, 'out');
  batch.count = 0;
}

/**
 * Folds buffered vectors in and mirrors the upper triangles into full symmetric Gram matrices (packed
 * statistics stay packed: read them with {@link groupGram}). Idempotent.
 */
export function finishInputStats(stats: InputStats): void {
  const { gram, cols, groups } = stats;
  if (!gram) return;
  flushPending(stats);
  if (stats.packed) return;
  for (let g = 0; g < groups; g++) {
    const base = g * cols * cols;
    for (let i = 0; i < cols; i++) for (let j = i + 1; j < cols; j++) gram[base + j * cols + i] = gram[base + i * cols + j];
  }
}

/** Folds the vectors still buffered into the upper triangles. */
function flushPending(stats: InputStats): void {
  const pending = pendingOf.get(stats);
  if (!pending) return;
  pending.forEach((batch, g) => batch.count > 0 && flush(stats, g, batch));
  pendingOf.delete(stats);
  releaseKernelArrays();
}

/**
 * Finishes the statistics and keeps only the upper triangle of each (symmetric) Gram matrix: statistics
 * held between uses take half the memory. Idempotent.
 */
export function packInputStats(stats: InputStats): void {
  const { gram, cols: n, groups } = stats;
  if (!gram) return;
  // Only the upper triangles are read: the lower ones are not mirrored (nor their pages touched) first.
  flushPending(stats);
  if (stats.packed) return;
  const triangle = (n * (n + 1)) / 2;
  const packed = new Float64Array(groups * triangle);
  let at = 0;
  for (let g = 0; g < groups; g++) {
    const base = g * n * n;
    for (let i = 0; i < n; i++) {
      packed.set(gram.subarray(base + i * n + i, base + (i + 1) * n), at);
      at += n - i;
    }
  }
  stats.gram = packed;
  stats.packed = true;
}

/** The Gram matrix of one group, cols x cols: a view, or a new full matrix when the statistics are packed. */
export function groupGram(stats: InputStats, group: number): Float64Array {
  if (!stats.gram) throw new RangeError('These input statistics hold no Gram matrix.');
  flushPending(stats);
  const n = stats.cols;
  if (!stats.packed) return stats.gram.subarray(group * n * n, (group + 1) * n * n);
  const full = new Float64Array(n * n);
  let at = (group * n * (n + 1)) / 2;
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      const v = stats.gram[at++]!;
      full[i * n + j] = v;
      full[j * n + i] = v;
    }
  }
  return full;
}

/** Per-input-column norms ‖X_j‖ of one group. */
export function groupNorms(stats: InputStats, group: number): Float64Array {
  const out = new Float64Array(stats.cols);
  for (let j = 0; j < stats.cols; j++) out[j] = Math.sqrt(stats.sumSquares[group * stats.cols + j]);
  return out;
}
