import { accumulateConvInputs, accumulateRowInputs, createInputStats, finishInputStats, reconstructionEnergy, refitFactor, type ConvGeometry, type InputStats } from '@specprune/core';
import { encodeFloat32, intAttribute, intsAttribute, readTensorFloat32, stringAttribute, type OnnxModel } from '@specprune/onnx-io';
import type { Tensor } from '../runtime.js';
import { attributeFloat, type ChannelAnalysis, type ConsumerInfo, type Segment } from './analyze.js';

/**
 * Least-squares re-fit of the consumers of removed channels (He, Zhang & Sun, "Channel Pruning for
 * Accelerating Very Deep Neural Networks", ICCV 2017; Luo et al., ThiNet, 2017): after a consumer loses
 * input channels, its weight on the kept ones is re-fit so that W' X_K ≈ W X on the inputs it saw. With the
 * Gram matrix G = X Xᵀ of the consumer's input vectors (im2col patches for a Conv), the solution is
 * W'_K = W G[:, K] (G[K, K] + λI)⁻¹. A consumer with a bias gets an intercept: its input vectors are
 * extended by a constant 1 (the centre tap of an extra all-ones channel for a Conv, checked to be 1 at
 * every output position), so the bias is re-fit with the weight and takes the removed channels' means.
 */

/** Largest Gram matrix side re-fit (float64: 4609² x 8 bytes = 170 MB); wider consumers keep bias compensation. */
const MAX_COLS = 4609;
/** Bytes all Gram matrices of one model may take together. */
const MEMORY_BYTES = 512 * 2 ** 20;
/** Ridge added to G[K, K], as a fraction of its mean diagonal (raised tenfold until it factors). */
const RIDGE = 1e-5;
/** Input vectors needed per kept column: fewer leave the fit underdetermined (a Gemm after global pooling sees one per sample). */
const VECTORS_PER_COLUMN = 4;

/** The input statistics of one consumer, gathered while the original model runs. */
export interface ConsumerGram {
  consumer: ConsumerInfo;
  stats: InputStats;
  /** Conv: the geometry its input patches are cut with; rows of the last axis otherwise. */
  geometry?: ConvGeometry;
  /** Kernel taps per input channel (1 for Gemm/MatMul). */
  taps: number;
  /** Input channels (features) of the weight's matrix view. */
  features: number;
  /** Column of the constant 1 in the extended input, when the consumer has a bias to re-fit. */
  ones?: number;
}

/**
 * Which consumers can be re-fit and the (empty) statistics they need, from the measured input shapes.
 * Consumers left out: Gemm with transA or its weight as A, MatMul with its weight as A, 3-D convolutions,
 * weights that are not float32 or used by another node, Gram matrices beyond the size or memory limit.
 */
export function planConsumerGrams(model: OnnxModel, analysis: ChannelAnalysis, shapes: ReadonlyMap<string, number[]>): ConsumerGram[] {
  const out: ConsumerGram[] = [];
  let bytes = 0;
  const uses = new Map<string, number>();
  for (const node of model.graph.nodes) for (const input of node.inputs) uses.set(input, (uses.get(input) ?? 0) + 1);
  for (const consumer of analysis.consumers) {
    const { tensor } = analysis.constants.get(consumer.weight)!;
    const shape = shapes.get(consumer.input);
    if (tensor.dataType !== 1 || !shape || (uses.get(consumer.weight) ?? 0) > 1) continue;
    const bias = consumer.bias ? analysis.constants.get(consumer.bias)!.tensor : undefined;
    const withBias = bias !== undefined && bias.dataType === 1 && bias.dims.length === 1;
    if (bias && !withBias) continue;
    const node = consumer.node;
    let plan: Omit<ConsumerGram, 'stats'> & { cols: number };
    if (consumer.kind === 'Conv') {
      const kernel = tensor.dims.slice(2);
      if ((kernel.length !== 1 && kernel.length !== 2) || intAttribute(node, 'group', 1) !== 1 || shape.length !== kernel.length + 2) continue;
      const taps = kernel.reduce((a, b) => a * b, 1);
      const features = tensor.dims[1]!;
      const geometry: ConvGeometry = { kernel, strides: intsAttribute(node, 'strides'), pads: intsAttribute(node, 'pads'), dilations: intsAttribute(node, 'dilations'), group: 1, autoPad: stringAttribute(node, 'auto_pad', 'NOTSET') as ConvGeometry['autoPad'] };
      const centre = kernel.length === 2 ? Math.floor(kernel[0]! / 2) * kernel[1]! + Math.floor(kernel[1]! / 2) : Math.floor(kernel[0]! / 2);
      plan = withBias ? { consumer, geometry, taps, features, ones: features * taps + centre, cols: (features + 1) * taps } : { consumer, geometry, taps, features, cols: features * taps };
    } else {
      if (node.inputs[1] !== consumer.weight || (consumer.kind === 'Gemm' && intAttribute(node, 'transA', 0) === 1) || tensor.dims.length !== 2) continue;
      const features = tensor.dims[consumer.axis]!;
      if (shape[shape.length - 1] !== features) continue;
      plan = withBias ? { consumer, taps: 1, features, ones: features, cols: features + 1 } : { consumer, taps: 1, features, cols: features };
    }
    const size = plan.cols * plan.cols * 8;
    if (plan.cols > MAX_COLS || bytes + size > MEMORY_BYTES) continue;
    bytes += size;
    const { cols, ...rest } = plan;
    out.push({ ...rest, stats: createInputStats(cols, 1, true) });
  }
  return out;
}

/** Adds one sample's input vectors of every planned consumer (`outputs`: the run's tensors by name). */
export function accumulateConsumerGrams(grams: readonly ConsumerGram[], outputs: Readonly<Record<string, Tensor>>): void {
  for (const gram of grams) {
    const tensor = outputs[gram.consumer.input];
    if (!tensor || tensor.type !== 'float32') continue;
    const data = tensor.data as Float32Array;
    const dims = [...tensor.dims];
    if (gram.geometry) {
      // The extended input has one more channel, all ones, whose centre tap is the intercept's column.
      const x = gram.ones === undefined ? data : withOnes(data, dims, 1);
      accumulateConvInputs(gram.stats, x, gram.ones === undefined ? dims : [dims[0]!, dims[1]! + 1, ...dims.slice(2)], gram.geometry);
    } else {
      accumulateRowInputs(gram.stats, gram.ones === undefined ? data : withOnes(data, dims, dims.length - 1));
    }
  }
}

/** `data` of `dims` with one more slice of ones appended along `axis`. */
function withOnes(data: Float32Array, dims: readonly number[], axis: number): Float32Array {
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const block = dims[axis]! * inner;
  const out = new Float32Array(outer * (block + inner));
  for (let o = 0; o < outer; o++) {
    out.set(data.subarray(o * block, (o + 1) * block), o * (block + inner));
    out.fill(1, o * (block + inner) + block, (o + 1) * (block + inner));
  }
  return out;
}

/** What the re-fit did to one consumer: ‖W X − W' X‖² with and without it, and ‖W X‖² (summed per group by the caller). */
export interface RefitOutcome {
  consumer: ConsumerInfo;
  /** Squared reconstruction error of the re-fit weight. */
  error: number;
  /** Squared reconstruction error without re-fit (removed columns dropped, their means into the bias when there is one). */
  errorWithout: number;
  total: number;
}

/**
 * Re-fits every planned consumer whose input lost channels, in place (full-size tensors: the removed
 * columns are sliced away afterwards by applyChannelPruning). `keep` maps a root group to its kept channels.
 * Returns what each re-fit achieved; consumers whose statistics are unusable (fewer than
 * {@link VECTORS_PER_COLUMN} input vectors per kept column, an intercept column that is not always 1) or
 * whose re-fit would not lower the error are left out: they keep the plain slice and bias compensation.
 */
export function refitConsumers(model: OnnxModel, analysis: ChannelAnalysis, grams: readonly ConsumerGram[], keep: ReadonlyMap<number, Int32Array>, write: (name: string, dims: readonly number[], data: Uint8Array) => void): RefitOutcome[] {
  const outcomes: RefitOutcome[] = [];
  const byWeight = new Map(analysis.consumers.map((c) => [c.weight, c]));
  for (const gram of grams) {
    // The statistics may come from another analysis of the same model: its consumers are matched by weight.
    const consumer = byWeight.get(gram.consumer.weight);
    const { stats } = gram;
    if (!consumer || !consumer.segments.some((s) => (keep.get(analysis.root(s.group))?.length ?? s.count) !== s.count)) continue;
    finishInputStats(stats);
    const G = stats.gram!;
    const cols = stats.cols;
    if (stats.count === 0) continue;
    // The intercept's column must be 1 for every input vector (a Conv's centre tap never in the padding).
    if (gram.ones !== undefined && Math.abs(G[gram.ones * cols + gram.ones]! - stats.count) > 1e-6 * stats.count) continue;
    const { tensor } = analysis.constants.get(consumer.weight)!;
    const w = readTensorFloat32(model, tensor);
    const dims = tensor.dims;
    const conv = consumer.kind === 'Conv';
    const rows = conv ? dims[0]! : dims[1 - consumer.axis]!;
    const features = gram.features;
    const taps = gram.taps;
    const alpha = consumer.kind === 'Gemm' ? attributeFloat(consumer.node, 'alpha', 1) : 1;
    const beta = consumer.kind === 'Gemm' ? attributeFloat(consumer.node, 'beta', 1) : 1;
    if (!Number.isFinite(alpha) || !Number.isFinite(beta) || alpha === 0 || (gram.ones !== undefined && beta === 0)) continue;
    const bias = consumer.bias ? readTensorFloat32(model, analysis.constants.get(consumer.bias)!.tensor) : undefined;
    // The effective map as [rows, cols] over the extended input: alpha W, and beta c on the ones column.
    const W = new Float64Array(rows * cols);
    for (let m = 0; m < rows; m++) {
      for (let f = 0; f < features; f++) {
        for (let t = 0; t < taps; t++) {
          const v = conv ? w[(m * features + f) * taps + t]! : consumer.axis === 0 ? w[f * rows + m]! : w[m * features + f]!;
          W[m * cols + f * taps + t] = alpha * v;
        }
      }
      if (gram.ones !== undefined) W[m * cols + gram.ones] = beta * bias![m]!;
    }
    const keptFeatures = keptIndices(analysis, consumer.segments, consumer.block, keep);
    const K: number[] = [];
    for (const f of keptFeatures) for (let t = 0; t < taps; t++) K.push(f * taps + t);
    if (gram.ones !== undefined) K.push(gram.ones);
    const k = K.length;
    if (stats.count < VECTORS_PER_COLUMN * k) continue;
    const H = new Float64Array(k * k);
    for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) H[a * k + b] = G[K[a]! * cols + K[b]!]!;
    let factor;
    try {
      factor = refitFactor(H, k, RIDGE).u;
    } catch {
      continue;
    }
    // B = W G[:, K]; W'_K = B H⁻¹ = (B Uᵀ) U.
    const refit = new Float64Array(rows * cols);
    const B = new Float64Array(k);
    const C = new Float64Array(k);
    for (let m = 0; m < rows; m++) {
      B.fill(0);
      const row = W.subarray(m * cols, (m + 1) * cols);
      for (let j = 0; j < cols; j++) {
        const v = row[j]!;
        if (v === 0) continue;
        const g = j * cols;
        for (let a = 0; a < k; a++) B[a]! += v * G[g + K[a]!]!;
      }
      // C = B Uᵀ (U upper triangular), then W'_K = C U.
      for (let a = 0; a < k; a++) {
        let s = 0;
        for (let b = a; b < k; b++) s += B[b]! * factor[a * k + b]!;
        C[a] = s;
      }
      for (let b = 0; b < k; b++) {
        let s = 0;
        for (let a = 0; a <= b; a++) s += C[a]! * factor[a * k + b]!;
        refit[m * cols + K[b]!] = s;
      }
    }
    // Without re-fit: the removed columns dropped, and their means into the bias when there is one.
    const plain = new Float64Array(rows * cols);
    const kept = new Uint8Array(cols);
    for (const j of K) kept[j] = 1;
    for (let m = 0; m < rows; m++) {
      let delta = 0;
      for (let j = 0; j < cols; j++) {
        if (kept[j]) plain[m * cols + j] = W[m * cols + j]!;
        else if (gram.ones !== undefined) delta += (W[m * cols + j]! * G[j * cols + gram.ones]!) / stats.count;
      }
      if (gram.ones !== undefined) plain[m * cols + gram.ones]! += delta;
    }
    const matrix = { rows, cols, data: Float32Array.from(W) };
    const fitted = reconstructionEnergy(matrix, Float32Array.from(refit), G);
    const without = reconstructionEnergy(matrix, Float32Array.from(plain), G, false);
    if (!Number.isFinite(fitted.error) || !(fitted.error <= without.error)) continue;
    outcomes.push({ consumer, error: Math.max(0, fitted.error), errorWithout: Math.max(0, without.error), total: fitted.total });

    const next = new Float32Array(w.length);
    for (let m = 0; m < rows; m++) {
      for (let f = 0; f < features; f++) {
        for (let t = 0; t < taps; t++) {
          const v = refit[m * cols + f * taps + t]! / alpha;
          if (conv) next[(m * features + f) * taps + t] = v;
          else if (consumer.axis === 0) next[f * rows + m] = v;
          else next[m * features + f] = v;
        }
      }
    }
    write(consumer.weight, dims, encodeFloat32(next, 'float32'));
    if (gram.ones !== undefined) {
      const b = Float32Array.from({ length: rows }, (_, m) => refit[m * cols + gram.ones!]! / beta);
      write(consumer.bias!, [rows], encodeFloat32(b, 'float32'));
    }
  }
  return outcomes;
}

/** Indices of the kept input features of a consumer (each channel a block of `block` features). */
function keptIndices(analysis: ChannelAnalysis, segments: readonly Segment[], block: number, keep: ReadonlyMap<number, Int32Array>): number[] {
  const out: number[] = [];
  let offset = 0;
  for (const s of segments) {
    const kept = keep.get(analysis.root(s.group)) ?? Int32Array.from({ length: s.count }, (_, i) => i);
    for (const c of kept) for (let j = 0; j < block; j++) out.push(offset + c * block + j);
    offset += s.count * block;
  }
  return out;
}
