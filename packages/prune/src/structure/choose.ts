import { readTensorFloat32, type OnnxModel } from '@specprune/onnx-io';
import type { ChannelAnalysis, MacNode, Segment } from './analyze.js';

/** Per tensor a consumer reads: each input feature's mean and mean square over the samples (Conv: axis 1; Gemm/MatMul: the last axis). */
export type ChannelStats = ReadonlyMap<string, { mean: Float64Array; meanSquare: Float64Array }>;

/** L2 norm of every slice of a row-major tensor along `axis` (all other axes summed). */
function normsAlong(values: Float32Array, dims: readonly number[], axis: number): Float64Array {
  const rows = dims[axis]!;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const norms = new Float64Array(rows);
  for (let o = 0; o < outer; o++) {
    for (let r = 0; r < rows; r++) {
      const base = (o * rows + r) * inner;
      let sum = 0;
      for (let i = 0; i < inner; i++) sum += values[base + i]! * values[base + i]!;
      norms[r]! += sum;
    }
  }
  for (let r = 0; r < rows; r++) norms[r] = Math.sqrt(norms[r]!);
  return norms;
}

/**
 * Channel scores from the consumers' side, with input statistics: a channel matters as much as it moves
 * the consumers' outputs around their means, i.e. the norm of each consumer's weight column times the
 * channel's standard deviation on the samples (its mean is folded into the consumer's bias when it is
 * removed). Each consumer's scores are divided by their mean and summed over the group; groups no
 * consumer with statistics reads keep the data-free scores. Returns the scores and the groups scored so.
 */
export function scoreChannelsByActivity(model: OnnxModel, analysis: ChannelAnalysis, stats: ChannelStats): { scores: Map<number, Float64Array>; scored: Set<number> } {
  const scores = scoreChannels(model, analysis);
  const activity = new Map<number, Float64Array>();
  for (const consumer of analysis.consumers) {
    const st = stats.get(consumer.input);
    const { tensor } = analysis.constants.get(consumer.weight)!;
    if (!st || st.mean.length !== tensor.dims[consumer.axis]) continue;
    const norms = normsAlong(readTensorFloat32(model, tensor), tensor.dims, consumer.axis);
    const channels = consumer.segments.reduce((sum, s) => sum + s.count, 0);
    const perChannel = new Float64Array(channels);
    for (let c = 0; c < channels; c++) {
      for (let j = 0; j < consumer.block; j++) {
        const f = c * consumer.block + j;
        perChannel[c]! += norms[f]! * Math.sqrt(Math.max(0, st.meanSquare[f]! - st.mean[f]! * st.mean[f]!));
      }
    }
    const mean = perChannel.reduce((a, b) => a + b, 0) / Math.max(1, channels);
    let offset = 0;
    for (const segment of consumer.segments) {
      const root = analysis.root(segment.group);
      let target = activity.get(root);
      if (!target) activity.set(root, (target = new Float64Array(segment.count)));
      for (let c = 0; c < segment.count; c++) target[c]! += mean > 0 ? perChannel[offset + c]! / mean : 0;
      offset += segment.count;
    }
  }
  for (const [root, values] of activity) scores.set(root, values);
  return { scores, scored: new Set(activity.keys()) };
}

/**
 * Data-free channel scores per group: for every weight that produces the group's channels, the L2 norm
 * of each output row, times |scale| / sqrt(var + eps) of a BatchNormalization right after; each weight's
 * scores are divided by their mean (so layers of different scale weigh alike) and summed over the group.
 */
export function scoreChannels(model: OnnxModel, analysis: ChannelAnalysis): Map<number, Float64Array> {
  const out = new Map<number, Float64Array>();
  for (const group of analysis.groups) out.set(group.id, new Float64Array(group.channels));
  const read = (name: string) => readTensorFloat32(model, analysis.constants.get(name)!.tensor);
  for (const source of analysis.scores) {
    const { tensor } = analysis.constants.get(source.tensor)!;
    const values = read(source.tensor);
    const rows = tensor.dims[source.axis]!;
    const rowNorms = normsAlong(values, tensor.dims, source.axis);
    if (source.batchNorm) {
      const scale = read(source.batchNorm.scale);
      const variance = read(source.batchNorm.variance);
      for (let r = 0; r < rows; r++) rowNorms[r]! *= Math.abs(scale[r]!) / Math.sqrt(variance[r]! + source.batchNorm.epsilon);
    }
    // A channel of `block` rows (an attention head) scores the norm of all its rows.
    const block = source.block ?? 1;
    const norms = new Float64Array(rows / block);
    for (let r = 0; r < rows; r++) norms[Math.floor(r / block)]! += rowNorms[r]! * rowNorms[r]!;
    for (let c = 0; c < norms.length; c++) norms[c] = Math.sqrt(norms[c]!);
    const mean = norms.reduce((a, b) => a + b, 0) / Math.max(1, norms.length);
    let offset = 0;
    for (const segment of source.segments) {
      const target = out.get(analysis.root(segment.group))!;
      for (let c = 0; c < segment.count; c++) target[c]! += mean > 0 ? norms[offset + c]! / mean : 0;
      offset += segment.count;
    }
  }
  return out;
}

/** Multiply-adds of the model when each group keeps `kept.get(root)` channels (intact groups: all). */
export function countMacs(analysis: ChannelAnalysis, kept: ReadonlyMap<number, number>): number {
  const fraction = (segments: readonly Segment[] | undefined) => {
    if (!segments) return 1;
    let all = 0;
    let left = 0;
    for (const s of segments) {
      all += s.count;
      left += kept.get(analysis.root(s.group)) ?? s.count;
    }
    return all ? left / all : 1;
  };
  return analysis.macNodes.reduce((sum, node: MacNode) => sum + (node.macs ?? 0) * fraction(node.input) * fraction(node.output), 0);
}

/**
 * The step a group's channel count moves by: `multiple` channels; for channels that are blocks of features (attention
 * heads) one head when a head is at least `multiple` features (a head keeps its size, so 15-feature heads stay
 * 15-feature heads), else the fewest heads that make a multiple of it; likewise for channels kept in every group of
 * a grouped convolution (each is that many channels of the tensor).
 */
export function stepOf(group: { block?: number; copies?: number }, multiple: number): number {
  const block = (group.block ?? 1) * (group.copies ?? 1);
  if (block >= multiple) return 1;
  let [a, b] = [multiple, block];
  while (b) [a, b] = [b, a % b];
  return multiple / a;
}

/** Channels kept of `channels` at fraction `keep`, rounded to a multiple, at least one multiple (or all). */
export function roundChannels(channels: number, keep: number, multiple: number): number {
  if (channels <= multiple) return channels;
  const rounded = Math.round((channels * keep) / multiple) * multiple;
  return Math.min(channels, Math.max(multiple, rounded));
}

/**
 * How many channels each prunable group keeps for a multiply-add budget: one keep fraction for every
 * group (the largest whose rounded counts fit `flops` x the full count), found by bisection. Returns the
 * counts and the fraction of multiply-adds they keep (above `flops` when even the smallest counts do not fit).
 */
export function allocateChannels(analysis: ChannelAnalysis, flops: number, multiple: number): { kept: Map<number, number>; macsFraction: number } {
  const at = (keep: number) => uniformCounts(analysis, keep, multiple);
  const full = countMacs(analysis, new Map());
  if (flops >= 1 || full === 0) return { kept: at(1), macsFraction: 1 };
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 40; i++) {
    const mid = (lo + hi) / 2;
    if (countMacs(analysis, at(mid)) <= flops * full) lo = mid;
    else hi = mid;
  }
  const kept = at(lo);
  return { kept, macsFraction: countMacs(analysis, kept) / full };
}

/** Every prunable group keeps fraction `keep` of its channels, rounded (see roundChannels). */
export function uniformCounts(analysis: ChannelAnalysis, keep: number, multiple: number): Map<number, number> {
  return new Map(analysis.groups.filter((g) => !g.intact).map((g) => [g.id, roundChannels(g.channels, keep, stepOf(g, multiple))]));
}

/** The `count` highest-scored channels (ties: the lower index), in ascending order. */
export function topChannels(scores: Float64Array, count: number): Int32Array {
  const order = Array.from(scores.keys()).sort((a, b) => scores[b]! - scores[a]! || a - b);
  return Int32Array.from(order.slice(0, count)).sort();
}

/**
 * Greedy allocation by score per multiply-add saved: starting from every channel kept, repeatedly removes
 * the `multiple` lowest-scored remaining channels of the group where they cost least (their share of the
 * group's remaining score, so thinning a group costs more each time) per multiply-add they save, until the
 * model is within `flops`. A group keeps at least
 * one multiple; groups of at most one multiple stay whole.
 */
export function allocateChannelsGreedy(analysis: ChannelAnalysis, flops: number, multiple: number, scores: ReadonlyMap<number, Float64Array>): { kept: Map<number, number>; macsFraction: number } {
  const sorted = new Map(analysis.groups.filter((g) => !g.intact).map((g) => [g.id, Float64Array.from(scores.get(g.id)!).sort()]));
  return allocateByCost(analysis, flops, multiple, (g, now, step) => {
    const removed = g.channels - now;
    const lowest = sorted.get(g.id)!.subarray(removed, removed + step);
    // The share of the group's remaining importance these channels carry: thinning a group costs more each time.
    const remaining = sorted.get(g.id)!.subarray(removed).reduce((a, b) => a + b, 0);
    return remaining > 0 ? lowest.reduce((a, b) => a + b, 0) / remaining : 0;
  });
}

/**
 * Greedy allocation by measured sensitivity: a group's output distortion `distortion.get(root)` (1 − cosine to
 * the original's outputs with half of its channels removed alone) is taken to grow with the square of the
 * fraction removed, d (r / 0.5)²; the `multiple` channels that add the least of it per multiply-add saved go
 * first, until the model is within `flops` (which channels: the group's own ranking, as for the others). So a
 * group the outputs barely notice is thinned before one they depend on, whatever their activation scores say.
 */
export function allocateChannelsBySensitivity(
  analysis: ChannelAnalysis,
  flops: number,
  multiple: number,
  distortion: ReadonlyMap<number, number>,
): { kept: Map<number, number>; macsFraction: number } {
  return allocateByCost(analysis, flops, multiple, (g, now, step) => {
    const d = distortion.get(g.id) ?? Number.POSITIVE_INFINITY;
    const [before, after] = [(g.channels - now) / g.channels, (g.channels - now + step) / g.channels];
    return d * 4 * (after * after - before * before);
  });
}

/**
 * Starting from every channel kept, repeatedly removes `multiple` channels from the group where `cost(group,
 * kept now)` per multiply-add saved is least, until the model is within `flops` (or nothing can go). A group
 * keeps at least one multiple; groups of at most one multiple stay whole.
 */
function allocateByCost(
  analysis: ChannelAnalysis,
  flops: number,
  multiple: number,
  cost: (group: ChannelAnalysis['groups'][number], now: number, step: number) => number,
): { kept: Map<number, number>; macsFraction: number } {
  const prunable = analysis.groups.filter((g) => !g.intact);
  const kept = new Map(prunable.map((g) => [g.id, g.channels]));
  const full = countMacs(analysis, new Map());
  if (flops >= 1 || full === 0) return { kept, macsFraction: 1 };
  let macs = full;
  while (macs > flops * full) {
    let best: { id: number; cost: number; macs: number; step: number } | undefined;
    for (const g of prunable) {
      const now = kept.get(g.id)!;
      const step = stepOf(g, multiple);
      if (now - step < Math.min(g.channels, step) || now <= step) continue;
      const c = cost(g, now, step);
      kept.set(g.id, now - step);
      const after = countMacs(analysis, kept);
      kept.set(g.id, now);
      const saved = macs - after;
      if (saved <= 0 || !Number.isFinite(c)) continue;
      if (!best || c / saved < best.cost / (macs - best.macs)) best = { id: g.id, cost: c, macs: after, step };
    }
    if (!best) break;
    kept.set(best.id, kept.get(best.id)! - best.step);
    macs = best.macs;
  }
  return { kept, macsFraction: macs / full };
}
