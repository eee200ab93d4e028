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
}

/** Bytes the Gram matrices of a weight with these dimensions take (float64). */
export function gramBytes(cols: number, groups: number): number {
  return groups * cols * cols * 8;
}

export function createInputStats(cols: number, groups: number, withGram: boolean): InputStats {
  if (!Number.isInteger(cols) || cols < 1 || !Number.isInteger(groups) || groups < 1) {
    throw new RangeError(`Input statistics need cols >= 1 and groups >= 1; got cols=${cols}, groups=${groups}.`);
  }
  return {
    cols,
    groups,
    count: 0,
    sumSquares: new Float64Array(groups * cols),
    ...(withGram ? { gram: new Float64Array(groups * cols * cols) } : {}),
  };
}

/**
 * Adds `count` input vectors of group `group`, stored as the rows of `vectors` (count x cols, row-major).
 * The Gram update only fills the upper triangle (j >= i); call {@link finishInputStats} before reading it.
 * Four vectors share each pass over a Gram row, so the update runs at about a quarter of the memory traffic.
 */
export function accumulateInputs(stats: InputStats, group: number, vectors: Float32Array, count: number): void {
  const { cols } = stats;
  if (vectors.length < count * cols) throw new RangeError(`accumulateInputs: ${count} vectors of ${cols} need ${count * cols} values, got ${vectors.length}.`);
  const norms = stats.sumSquares;
  const normBase = group * cols;
  for (let v = 0; v < count * cols; v++) {
    const x = vectors[v];
    norms[normBase + (v % cols)] += x * x;
  }
  const gram = stats.gram;
  if (gram) {
    const base = group * cols * cols;
    let v = 0;
    for (; v + 4 <= count; v += 4) {
      const o0 = v * cols;
      const o1 = o0 + cols;
      const o2 = o1 + cols;
      const o3 = o2 + cols;
      for (let i = 0; i < cols; i++) {
        const a0 = vectors[o0 + i];
        const a1 = vectors[o1 + i];
        const a2 = vectors[o2 + i];
        const a3 = vectors[o3 + i];
        if (a0 === 0 && a1 === 0 && a2 === 0 && a3 === 0) continue;
        const row = base + i * cols;
        for (let j = i; j < cols; j++) {
          gram[row + j] += a0 * vectors[o0 + j] + a1 * vectors[o1 + j] + a2 * vectors[o2 + j] + a3 * vectors[o3 + j];
        }
      }
    }
    for (; v < count; v++) {
      const o = v * cols;
      for (let i = 0; i < cols; i++) {
        const a = vectors[o + i];
        if (a === 0) continue;
        const row = base + i * cols;
        for (let j = i; j < cols; j++) gram[row + j] += a * vectors[o + j];
      }
    }
  }
  if (group === 0) stats.count += count;
}

/** Mirrors the accumulated upper triangles into full symmetric Gram matrices. Idempotent. */
export function finishInputStats(stats: InputStats): void {
  const { gram, cols, groups } = stats;
  if (!gram) return;
  for (let g = 0; g < groups; g++) {
    const base = g * cols * cols;
    for (let i = 0; i < cols; i++) for (let j = i + 1; j < cols; j++) gram[base + j * cols + i] = gram[base + i * cols + j];
  }
}

/** The Gram matrix of one group (a view, cols x cols). */
export function groupGram(stats: InputStats, group: number): Float64Array {
  if (!stats.gram) throw new RangeError('These input statistics hold no Gram matrix.');
  const size = stats.cols * stats.cols;
  return stats.gram.subarray(group * size, (group + 1) * size);
}

/** Per-input-column norms ‖X_j‖ of one group. */
export function groupNorms(stats: InputStats, group: number): Float64Array {
  const out = new Float64Array(stats.cols);
  for (let j = 0; j < stats.cols; j++) out[j] = Math.sqrt(stats.sumSquares[group * stats.cols + j]);
  return out;
}
