import { greedyColumnOrder, residualProblem, type Residual } from '@specprune/core';
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
    const state = residualProblem(map.W, map.rows, part.gram.stats.gram!, map.cols, part.columns, keptAnyway(part), RIDGE);
    if (state && state.energy > 0) states.push(state);
  }
  if (!states.length) return undefined;
  return greedyColumnOrder(states, channels);
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
