import type { OnnxModel } from '@specprune/onnx-io';
import type { ChannelAnalysis } from './analyze.js';
import { effectiveMap, RIDGE, VECTORS_PER_COLUMN, type ConsumerGram } from './refit.js';

/**
 * Which channels to keep by the error the re-fit leaves (criterion `reconstruction`): column subset selection
 * on the consumers' input Gram matrices, weighted by what the consumers compute. For a consumer W with input
 * Gram matrix G, keeping the columns K and re-fitting W on them by least squares leaves the error
 * tr(W (G − G[:,K] G[K,K]⁻¹ G[K,:]) Wᵀ) (the Schur complement of G[K,K]); a channel is a block of columns (its
 * kernel taps, or its features after a Flatten). Greedy forward selection: start from the columns the consumer
 * keeps anyway (its intercept, channels of other groups), then repeatedly keep the channel that explains the
 * most of what is left, tr(Y M⁻¹ Yᵀ) with Y = (W R)[:, B], M = R[B, B] for the residual Gram R, and condition
 * R on it. Correlated channels thus count once: of two copies the second explains nothing (the activation
 * score keeps both). Each consumer's gains are divided by its output energy left to explain, and summed over
 * the group's consumers. The order found is nested: the first k channels are the k kept.
 */

/** Work (multiply-adds) one group's selection may take; larger groups keep the activation scores. */
const GROUP_BUDGET = 6e8;
/** Work all groups' selections may take together. */
const MODEL_BUDGET = 4e9;

/** The channels of a consumer's input that belong to one group: per channel, its columns in the consumer's Gram matrix. */
interface Part {
  gram: ConsumerGram;
  /** columns[c]: the Gram columns of group channel c (every segment of the group the consumer reads). */
  columns: number[][];
}

/**
 * For every prunable group some re-fit consumer reads with enough input vectors: its channels from most to
 * least worth keeping (greedy, see above). Groups left out (no such consumer, over the work budget) are
 * ranked by their activation scores.
 */
export function reconstructionOrders(model: OnnxModel, analysis: ChannelAnalysis, grams: readonly ConsumerGram[]): Map<number, Int32Array> {
  const byWeight = new Map(analysis.consumers.map((c) => [c.weight, c]));
  const parts = new Map<number, Part[]>();
  for (const gram of grams) {
    const consumer = byWeight.get(gram.consumer.weight);
    if (!consumer) continue;
    const width = consumer.block * gram.taps;
    let offset = 0;
    const mine = new Map<number, number[][]>();
    for (const s of consumer.segments) {
      const root = analysis.root(s.group);
      let columns = mine.get(root);
      if (!columns) mine.set(root, (columns = Array.from({ length: s.count }, () => [])));
      for (let c = 0; c < s.count; c++) for (let j = 0; j < width; j++) columns[c]!.push((offset + c) * width + j);
      offset += s.count;
    }
    for (const [root, columns] of mine) {
      if (!parts.has(root)) parts.set(root, []);
      parts.get(root)!.push({ gram, columns });
    }
  }
  const orders = new Map<number, Int32Array>();
  let spent = 0;
  for (const group of analysis.groups) {
    const mine = (parts.get(group.id) ?? []).filter((p) => p.gram.stats.count >= VECTORS_PER_COLUMN * p.columns.flat().length);
    if (group.intact || !mine.length) continue;
    const work = mine.reduce((sum, p) => sum + selectionWork(p, p.gram.stats.cols, rowsOf(analysis, p.gram)), 0);
    if (work > GROUP_BUDGET || spent + work > MODEL_BUDGET) continue;
    spent += work;
    const order = greedyOrder(model, analysis, group.channels, mine);
    if (order) orders.set(group.id, order);
  }
  return orders;
}

/** Output rows of a consumer's weight. */
function rowsOf(analysis: ChannelAnalysis, gram: ConsumerGram): number {
  const { consumer } = gram;
  const dims = analysis.constants.get(consumer.weight)!.tensor.dims;
  return consumer.kind === 'Conv' ? dims[0]! : dims[1 - consumer.axis]!;
}

/** Multiply-adds of one consumer's part of the selection: conditioning on its other columns, then a step per channel. */
function selectionWork(part: Part, cols: number, rows: number): number {
  const channels = part.columns.length;
  const width = part.columns[0]?.length ?? 0;
  const n = channels * width;
  const others = part.gram.features * part.gram.taps - n + 1;
  return others * (cols * cols + rows * cols) + rows * cols * cols + channels * (channels * rows * width * width + width * (n * n + rows * n));
}

/** The greedy order of a group's `channels` over its consumers' parts, or undefined when no part can be used. */
function greedyOrder(model: OnnxModel, analysis: ChannelAnalysis, channels: number, parts: readonly Part[]): Int32Array | undefined {
  const states: Residual[] = [];
  const byWeight = new Map(analysis.consumers.map((c) => [c.weight, c]));
  for (const part of parts) {
    const map = effectiveMap(model, analysis, byWeight.get(part.gram.consumer.weight)!, part.gram);
    if (!map) continue;
    const state = residual(map.W, map.rows, part.gram.stats.gram!, map.cols, part.columns, keptAnyway(part));
    if (state && state.energy > 0) states.push(state);
  }
  if (!states.length) return undefined;
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

/** The columns a consumer's re-fit keeps whatever this group loses: other groups' features and the intercept. */
function keptAnyway(part: Part): number[] {
  const { gram } = part;
  const inGroup = new Uint8Array(gram.stats.cols);
  for (const block of part.columns) for (const j of block) inGroup[j] = 1;
  const out: number[] = [];
  for (let j = 0; j < gram.features * gram.taps; j++) if (!inGroup[j]) out.push(j);
  if (gram.ones !== undefined) out.push(gram.ones);
  return out;
}

/** A consumer's residual problem restricted to one group's columns: R = what is left of G, WR = W R. */
interface Residual {
  /** n x n, n = the group's columns in this consumer. */
  R: Float64Array;
  /** rows x n. */
  WR: Float64Array;
  n: number;
  rows: number;
  /** blocks[c]: channel c's columns (indices into R). */
  blocks: number[][];
  /** Ridge added to every pivot: RIDGE of the mean diagonal, as the re-fit's. */
  ridge: number;
  /** tr(W R Wᵀ) once the other columns are conditioned on: the output energy the group's channels can explain. */
  energy: number;
}

/**
 * Conditions the consumer's Gram matrix on every column outside the group (kept whatever is chosen), then
 * restricts it and W G to the group's columns. Undefined when the Gram matrix holds non-finite values.
 */
function residual(W: Float64Array, rows: number, G: Float64Array, cols: number, columns: number[][], others: readonly number[]): Residual | undefined {
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
  const ridge = (RIDGE * diagonal) / Math.max(1, cols);
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
function explained(s: Residual, c: number): number {
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
function condition(s: Residual, block: readonly number[]): void {
  for (const j of block) eliminate(s.R, s.WR, s.n, s.rows, j, s.ridge);
}
