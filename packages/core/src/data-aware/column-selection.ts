/**
 * Greedy column subset selection for structured pruning: which blocks of columns of a layer's input to keep so that
 * re-fitting the layer's weight W on them by least squares leaves the least output error. For input Gram matrix G,
 * keeping columns K leaves tr(W (G − G[:,K] (G[K,K] + λI)⁻¹ G[K,:]) Wᵀ) (the Schur complement); each step keeps the
 * block that explains the most of what is left, tr(Y M⁻¹ Yᵀ) with Y = (W R)[:, B], M = R[B, B] + λI for the residual
 * Gram R, then conditions R on it by rank-one updates. Several layers' problems (the consumers of one channel group)
 * are summed, each normalised by the output energy it can explain. Pure numerics on typed arrays (the pruning
 * pipeline maps channels to columns).
 */

/** A layer's residual problem restricted to one group's columns: R = what is left of G, WR = W R. */
export interface Residual {
  /** n x n, n = the group's columns in this consumer. */
  R: Float64Array;
  /** rows x n. */
  WR: Float64Array;
  n: number;
  rows: number;
  /** blocks[c]: channel c's columns (indices into R). */
  blocks: number[][];
  /** Ridge added to every pivot (a fraction of the mean diagonal). */
  ridge: number;
  /** tr(W R Wᵀ) once the other columns are conditioned on: the output energy the group's channels can explain. */
  energy: number;
}

/**
 * A layer's problem: W (rows x cols) and its input Gram matrix G (cols x cols) conditioned on every column in
 * `others` (kept whatever is chosen: the intercept, other groups' columns), then restricted to `columns` (per channel,
 * its block of columns). Every pivot gets `ridgeFactor` x the mean diagonal of G, as a ridge re-fit would. Undefined
 * when G holds non-finite values.
 */
export function residualProblem(W: Float64Array, rows: number, G: Float64Array, cols: number, columns: number[][], others: readonly number[], ridgeFactor: number): Residual | undefined {
  const R = Float64Array.from(G);
  const WR = new Float64Array(rows * cols);
  for (let m = 0; m < rows; m++) {
    const w = W.subarray(m * cols, (m + 1) * cols);
    const out = WR.subarray(m * cols, (m + 1) * cols);
    for (let j = 0; j < cols; j++) {
      const v = w[j]!;
      if (v === 0) continue;
      const g = j * cols;
      for (let i = 0; i < cols; i++) out[i]! += v * G[g + i]!;
    }
  }
  let diagonal = 0;
  for (let j = 0; j < cols; j++) diagonal += G[j * cols + j]!;
  const ridge = (ridgeFactor * diagonal) / Math.max(1, cols);
  if (!Number.isFinite(ridge)) return undefined;
  for (const j of others) eliminate(R, WR, cols, rows, j, ridge);
  const index = columns.flat();
  const n = index.length;
  const r = new Float64Array(n * n);
  for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) r[a * n + b] = R[index[a]! * cols + index[b]!]!;
  const wr = new Float64Array(rows * n);
  let energy = 0;
  for (let m = 0; m < rows; m++) {
    for (let a = 0; a < n; a++) {
      wr[m * n + a] = WR[m * cols + index[a]!]!;
      energy += wr[m * n + a]! * W[m * cols + index[a]!]!;
    }
  }
  let at = 0;
  const blocks = columns.map((block) => block.map(() => at++));
  return { R: r, WR: wr, n, rows, blocks, ridge, energy };
}

/** Rank-one update: R and WR conditioned on column j (pivot R[j, j] + ridge). */
function eliminate(R: Float64Array, WR: Float64Array, n: number, rows: number, j: number, ridge: number): void {
  const pivot = R[j * n + j]! + ridge;
  if (!(pivot > 0)) return;
  const v = R.slice(j * n, (j + 1) * n);
  for (let a = 0; a < n; a++) {
    const f = v[a]! / pivot;
    if (f === 0) continue;
    const row = a * n;
    for (let b = 0; b < n; b++) R[row + b]! -= f * v[b]!;
  }
  for (let m = 0; m < rows; m++) {
    const f = WR[m * n + j]! / pivot;
    if (f === 0) continue;
    const row = m * n;
    for (let b = 0; b < n; b++) WR[row + b]! -= f * v[b]!;
  }
}

/** Output energy channel c would explain now: tr(Y M⁻¹ Yᵀ), Y = WR[:, B], M = R[B, B] + ridge I (Cholesky of M). */
export function explained(s: Residual, c: number): number {
  const block = s.blocks[c]!;
  const w = block.length;
  const { R, WR, n, rows, ridge } = s;
  if (w === 1) {
    const j = block[0]!;
    const pivot = R[j * n + j]! + ridge;
    if (!(pivot > 0)) return 0;
    let sum = 0;
    for (let m = 0; m < rows; m++) sum += WR[m * n + j]! ** 2;
    return sum / pivot;
  }
  const L = new Float64Array(w * w);
  for (let a = 0; a < w; a++) {
    for (let b = 0; b <= a; b++) {
      let v = R[block[a]! * n + block[b]!]! + (a === b ? ridge : 0);
      for (let k = 0; k < b; k++) v -= L[a * w + k]! * L[b * w + k]!;
      if (a === b) {
        if (!(v > 0)) return 0;
        L[a * w + a] = Math.sqrt(v);
      } else L[a * w + b] = v / L[b * w + b]!;
    }
  }
  // ‖L⁻¹ yₘ‖² summed over the rows m.
  const z = new Float64Array(w);
  let sum = 0;
  for (let m = 0; m < rows; m++) {
    for (let a = 0; a < w; a++) {
      let v = WR[m * n + block[a]!]!;
      for (let k = 0; k < a; k++) v -= L[a * w + k]! * z[k]!;
      z[a] = v / L[a * w + a]!;
      sum += z[a]! * z[a]!;
    }
  }
  return sum;
}

/** Conditions the residual on a kept channel's columns, one after another. */
export function condition(s: Residual, block: readonly number[]): void {
  for (const j of block) eliminate(s.R, s.WR, s.n, s.rows, j, s.ridge);
}

/**
 * The greedy order of `channels` channels over several layers' problems (each one's gains divided by its energy,
 * summed): the first k of the order are the k kept. Ties go to the lower channel.
 */
export function greedyColumnOrder(states: readonly Residual[], channels: number): Int32Array {
  const order: number[] = [];
  const taken = new Uint8Array(channels);
  for (let step = 0; step < channels; step++) {
    let best = -1;
    let bestGain = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < channels; c++) {
      if (taken[c]) continue;
      let gain = 0;
      for (const s of states) gain += explained(s, c) / s.energy;
      if (gain > bestGain) [best, bestGain] = [c, gain];
    }
    taken[best] = 1;
    order.push(best);
    for (const s of states) condition(s, s.blocks[best]!);
  }
  return Int32Array.from(order);
}
