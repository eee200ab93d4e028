import { accumulateConvInputs, accumulateRowInputs, createInputStats, finishInputStats, productWithGramColumns, reconstructionEnergy, refitFactor, restrictedEnergy, solveRowsWithFactor, type ConvGeometry, type InputStats } from '@specprune/core';
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
export const RIDGE = 1e-5;
/** Input vectors needed per kept column: fewer leave the fit underdetermined (a Gemm after global pooling sees one per sample). */
export const VECTORS_PER_COLUMN = 4;

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
  /**
   * Every re-fit with these statistics reads the consumer's weights as the model they were gathered on has them
   * (a search over fresh copies of one model): its ‖W X‖² (`total`) is then computed once, not per re-fit.
   */
  fixedWeights?: boolean;
  /** ‖W X‖² = tr(W G Wᵀ) of the consumer's original weights, once a re-fit with `fixedWeights` computed it. */
  total?: number;
}

/**
 * Which consumers can be re-fit and the (empty) statistics they need, from the measured input shapes.
 * Consumers left out: Gemm with transA or its weight as A, MatMul with its weight as A, 3-D convolutions, ConvTranspose,
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
    if (tensor.dataType !== 1 || !shape || (uses.get(consumer.weight) ?? 0) > 1 || consumer.kind === 'ConvTranspose' || consumer.kind === 'Recurrent') continue;
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

/**
 * A consumer's input in the original model and in the pruned one, side by side: the Gram matrix of the
 * extended vector [x_o; x_p; 1] holds X_o X_pᵀ and X_p X_pᵀ, from which the consumer is re-fit to give on the
 * pruned model's own inputs (what upstream pruning left of them) what it gave on the original's:
 * W' = W (X_o X_pᵀ) (X_p X_pᵀ + λI)⁻¹ (He et al. 2017 reconstruct from the pruned network's inputs too).
 */
export interface PairedGram {
  gram: ConsumerGram;
  /** Input features of the consumer in the pruned model (its kept features, in order). */
  prunedFeatures: number;
  stats: InputStats;
  /** Column of the constant 1 in the paired vector, when the consumer has a bias. */
  ones?: number;
}

/** The paired statistics of the consumers that were re-fit, within the same memory budget as the first pass. */
export function planPairedGrams(grams: readonly ConsumerGram[], refitted: ReadonlySet<string>, prunedShapes: ReadonlyMap<string, readonly number[]>): PairedGram[] {
  const out: PairedGram[] = [];
  let bytes = 0;
  for (const gram of grams) {
    const shape = prunedShapes.get(gram.consumer.input);
    if (!refitted.has(gram.consumer.weight) || !shape) continue;
    const prunedFeatures = gram.geometry ? shape[1]! : shape[shape.length - 1]!;
    const extra = gram.ones === undefined ? 0 : 1;
    const cols = (gram.features + prunedFeatures + extra) * gram.taps;
    const size = cols * cols * 8;
    if (cols > 2 * MAX_COLS || bytes + size > MEMORY_BYTES) continue;
    bytes += size;
    const centre = gram.ones === undefined ? 0 : gram.ones - gram.features * gram.taps;
    out.push({ gram, prunedFeatures, stats: createInputStats(cols, 1, true), ...(gram.ones !== undefined ? { ones: (gram.features + prunedFeatures) * gram.taps + centre } : {}) });
  }
  return out;
}

/** Adds one sample: the consumer inputs of the original's run and of the pruned model's run on the same sample. */
export function accumulatePairedGrams(paired: readonly PairedGram[], original: Readonly<Record<string, Tensor>>, pruned: Readonly<Record<string, Tensor>>): void {
  for (const p of paired) {
    const name = p.gram.consumer.input;
    const [a, b] = [original[name], pruned[name]];
    if (a?.type !== 'float32' || b?.type !== 'float32') continue;
    const axis = p.gram.geometry ? 1 : a.dims.length - 1;
    const parts = [
      { data: a.data as Float32Array, dims: [...a.dims] },
      { data: b.data as Float32Array, dims: [...b.dims] },
    ];
    if (parts[1]!.dims.some((d, i) => i !== axis && d !== parts[0]!.dims[i])) continue;
    const joined = concatAlong(parts, axis, p.ones !== undefined);
    if (p.gram.geometry) accumulateConvInputs(p.stats, joined.data, joined.dims, p.gram.geometry);
    else accumulateRowInputs(p.stats, joined.data);
  }
}

/** Tensors of equal dims but along `axis` joined along it, with a slice of ones after them when asked. */
function concatAlong(parts: ReadonlyArray<{ data: Float32Array; dims: number[] }>, axis: number, ones: boolean): { data: Float32Array; dims: number[] } {
  const dims = parts[0]!.dims;
  const outer = dims.slice(0, axis).reduce((x, y) => x * y, 1);
  const inner = dims.slice(axis + 1).reduce((x, y) => x * y, 1);
  const sizes = parts.map((p) => p.dims[axis]! * inner);
  const block = sizes.reduce((x, y) => x + y, 0) + (ones ? inner : 0);
  const data = new Float32Array(outer * block);
  for (let o = 0; o < outer; o++) {
    let at = o * block;
    parts.forEach((p, i) => {
      data.set(p.data.subarray(o * sizes[i]!, (o + 1) * sizes[i]!), at);
      at += sizes[i]!;
    });
    if (ones) data.fill(1, at, at + inner);
  }
  const out = [...dims];
  out[axis] = parts.reduce((sum, p) => sum + p.dims[axis]!, 0) + (ones ? 1 : 0);
  return { data, dims: out };
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
  /** Fit and errors on the pruned model's own inputs (the paired statistics), rather than on the original's. */
  onPrunedInputs?: boolean;
}

/**
 * Re-fits every planned consumer whose input lost channels, in place (full-size tensors: the removed
 * columns are sliced away afterwards by applyChannelPruning). `keep` maps a root group to its kept channels.
 * Returns what each re-fit achieved; consumers whose statistics are unusable (fewer than
 * {@link VECTORS_PER_COLUMN} input vectors per kept column, an intercept column that is not always 1) or
 * whose re-fit would not lower the error are left out: they keep the plain slice and bias compensation.
 */
export function refitConsumers(
  model: OnnxModel,
  analysis: ChannelAnalysis,
  grams: readonly ConsumerGram[],
  keep: ReadonlyMap<number, Int32Array>,
  write: (name: string, dims: readonly number[], data: Uint8Array) => void,
  paired?: ReadonlyMap<string, PairedGram>,
  cache?: RefitCache,
): RefitOutcome[] {
  const outcomes: RefitOutcome[] = [];
  const byWeight = new Map(analysis.consumers.map((c) => [c.weight, c]));
  for (const gram of grams) {
    // The statistics may come from another analysis of the same model: its consumers are matched by weight.
    const consumer = byWeight.get(gram.consumer.weight);
    if (!consumer || !consumer.segments.some((s) => (keep.get(analysis.root(s.group))?.length ?? s.count) !== s.count)) continue;
    const keptFeatures = keptIndices(analysis, consumer.segments, consumer.block, keep);
    const pair = paired?.get(consumer.weight);
    // The same consumer, kept features and statistics give the same fit: candidates and second-pass rebuilds share it.
    const key = cache && `${consumer.weight}\u0000${keptFeatures.join(',')}\u0000${pair ? idOf(pair) : ''}`;
    let result = key === undefined ? undefined : cache!.get(key);
    if (result === undefined) {
      result = refitOne(model, analysis, consumer, gram, keptFeatures, pair) ?? null;
      if (key !== undefined) cache!.set(key, result);
    }
    if (!result) continue;
    outcomes.push({ consumer, ...result.outcome });
    for (const [name, dims, data] of result.writes) write(name, dims, data);
  }
  return outcomes;
}

/** Fits already made in one prune, by consumer weight, kept features and paired statistics (null: not re-fit). */
export type RefitCache = Map<string, { outcome: Omit<RefitOutcome, 'consumer'>; writes: Array<[string, readonly number[], Uint8Array]> } | null>;

const ids = new WeakMap<object, number>();
let nextId = 0;
function idOf(value: object): number {
  let id = ids.get(value);
  if (id === undefined) ids.set(value, (id = ++nextId));
  return id;
}

/** One consumer's re-fit on its kept features (see refitConsumers): what it achieved and the tensors to write, or undefined. */
function refitOne(model: OnnxModel, analysis: ChannelAnalysis, consumer: ConsumerInfo, gram: ConsumerGram, keptFeatures: readonly number[], pair: PairedGram | undefined): { outcome: Omit<RefitOutcome, 'consumer'>; writes: Array<[string, readonly number[], Uint8Array]> } | undefined {
  const { stats } = gram;
  let outcome: Omit<RefitOutcome, 'consumer'>;
  const writes: Array<[string, readonly number[], Uint8Array]> = [];
  const map = effectiveMap(model, analysis, consumer, gram);
  if (!map) return undefined;
  const { W, rows, cols, alpha, beta, w, dims, conv, features, taps } = map;
  // Full and symmetric: finishInputStats mirrored it (productWithGramColumns reads its rows K as its columns K).
  const G = stats.gram!;
  const K: number[] = [];
  for (const f of keptFeatures) for (let t = 0; t < taps; t++) K.push(f * taps + t);
  if (gram.ones !== undefined) K.push(gram.ones);
  const k = K.length;
  if (stats.count < VECTORS_PER_COLUMN * k) return undefined;
  const H = new Float64Array(k * k);
  for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) H[a * k + b] = G[K[a]! * cols + K[b]!]!;
  let factor;
  try {
    factor = refitFactor(H, k, RIDGE).u;
  } catch {
    return undefined;
  }
  // B = W G[:, K]; W'_K = B H⁻¹ = (B Uᵀ) U.
  const refit = new Float64Array(rows * cols);
  const B = productWithGramColumns(W, rows, cols, G, K);
  const X = solveRowsWithFactor(B, rows, factor, k);
  for (let m = 0; m < rows; m++) for (let a = 0; a < k; a++) refit[m * cols + K[a]!] = X[m * k + a]!;
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
  // Errors on the original's inputs, of the values as written (float32). The re-fit's, with W' zero off K and
  // B = (W G)[:, K]: ‖(W − W')X‖² = ‖W X‖² − 2 Σ_m W'_m·B_m + Σ_m W'_m G[K, K] W'_mᵀ, at k² per row instead of
  // cols²; the plain slice's over the columns it changes (the removed ones and the intercept), at their count².
  const total = gram.total ?? energyOf(W, rows, cols, G);
  if (gram.fixedWeights) gram.total = total;
  const written = new Float64Array(rows * k);
  let cross = 0;
  for (let m = 0; m < rows; m++) {
    for (let a = 0; a < k; a++) {
      const v = Math.fround(refit[m * cols + K[a]!]!);
      written[m * k + a] = v;
      cross += B[m * k + a]! * v;
    }
  }
  const fitted = { error: total - 2 * cross + restrictedEnergy(written, rows, G, cols, K), total };
  const changed: number[] = [];
  for (let j = 0; j < cols; j++) if (!kept[j] || j === gram.ones) changed.push(j);
  const dropped = new Float64Array(rows * changed.length);
  for (let m = 0; m < rows; m++) changed.forEach((j, c) => (dropped[m * changed.length + c] = Math.fround(W[m * cols + j]!) - Math.fround(plain[m * cols + j]!)));
  const without = { error: restrictedEnergy(dropped, rows, G, cols, changed) };
  if (pair) {
    // On the pruned model's own inputs: the fit from the paired statistics, against the first pass and the
    // plain slice measured the same way, ‖W x_o − V x_p‖²; the smallest is written.
    const chosen = refitOnPrunedInputs(pair, W, rows, cols, K, [refit, plain]);
    if (chosen) {
      refit.set(chosen.values);
      outcome = { error: chosen.error, errorWithout: chosen.errorWithout, total: fitted.total, onPrunedInputs: true };
    } else if (!Number.isFinite(fitted.error) || !(fitted.error <= without.error)) return undefined;
    else outcome = { error: Math.max(0, fitted.error), errorWithout: Math.max(0, without.error), total: fitted.total };
  } else {
    if (!Number.isFinite(fitted.error) || !(fitted.error <= without.error)) return undefined;
    outcome = { error: Math.max(0, fitted.error), errorWithout: Math.max(0, without.error), total: fitted.total };
  }

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
  writes.push([consumer.weight, dims, encodeFloat32(next, 'float32')]);
  if (gram.ones !== undefined) {
    const b = Float32Array.from({ length: rows }, (_, m) => refit[m * cols + gram.ones!]! / beta);
    writes.push([consumer.bias!, [rows], encodeFloat32(b, 'float32')]);
  }
  return { outcome, writes };
}

/** ‖W X‖² = tr(W G Wᵀ) for a map W over all of G's columns. */
function energyOf(W: Float64Array, rows: number, cols: number, G: Float64Array): number {
  return restrictedEnergy(W, rows, G, cols, Array.from({ length: cols }, (_, j) => j));
}

/** A consumer's weight as the map the re-fit works on, with what is needed to write it back. */
export interface EffectiveMap {
  /** [rows, cols] over the extended input: alpha W, and beta c on the ones column. */
  W: Float64Array;
  rows: number;
  cols: number;
  alpha: number;
  beta: number;
  /** The weight's values and dims as stored. */
  w: Float32Array;
  dims: readonly number[];
  conv: boolean;
  features: number;
  taps: number;
}

/**
 * The consumer's effective map over its extended input, from finished statistics; undefined when the
 * statistics cannot be used (no input vectors, an intercept column that is not always 1, a Gemm with a
 * zero or non-finite alpha or beta).
 */
export function effectiveMap(model: OnnxModel, analysis: ChannelAnalysis, consumer: ConsumerInfo, gram: ConsumerGram): EffectiveMap | undefined {
  const { stats } = gram;
  finishInputStats(stats);
  const G = stats.gram!;
  const cols = stats.cols;
  if (stats.count === 0) return undefined;
  // The intercept's column must be 1 for every input vector (a Conv's centre tap never in the padding).
  if (gram.ones !== undefined && Math.abs(G[gram.ones * cols + gram.ones]! - stats.count) > 1e-6 * stats.count) return undefined;
  const { tensor } = analysis.constants.get(consumer.weight)!;
  const w = readTensorFloat32(model, tensor);
  const dims = tensor.dims;
  const conv = consumer.kind === 'Conv';
  const rows = conv ? dims[0]! : dims[1 - consumer.axis]!;
  const { features, taps } = gram;
  const alpha = consumer.kind === 'Gemm' ? attributeFloat(consumer.node, 'alpha', 1) : 1;
  const beta = consumer.kind === 'Gemm' ? attributeFloat(consumer.node, 'beta', 1) : 1;
  if (!Number.isFinite(alpha) || !Number.isFinite(beta) || alpha === 0 || (gram.ones !== undefined && beta === 0)) return undefined;
  const bias = consumer.bias ? readTensorFloat32(model, analysis.constants.get(consumer.bias)!.tensor) : undefined;
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
  return { W, rows, cols, alpha, beta, w, dims, conv, features, taps };
}

/**
 * The consumer re-fit on the pruned model's inputs from its paired statistics: V = W C (G_pp + λI)⁻¹ over the
 * kept columns K, and the squared errors ‖W x_o − V x_p‖² (up to the constant ‖W x_o‖²) of it and of the
 * `others` (full-width candidates, nonzero on K only). Returns the best as a full-width row-major array,
 * with its error and the plain slice's (the last of `others`), or undefined when the statistics cannot say.
 */
function refitOnPrunedInputs(pair: PairedGram, W: Float64Array, rows: number, cols: number, K: readonly number[], others: readonly Float64Array[]): { values: Float64Array; error: number; errorWithout: number } | undefined {
  const { gram, stats } = pair;
  finishInputStats(stats);
  if (!stats.gram) throw new Error(`structured pruning: the paired statistics of ${gram.consumer.weight} were released before its fit; this is a bug.`);
  const P = stats.gram;
  const pc = stats.cols;
  const k = K.length;
  const featureTaps = gram.features * gram.taps;
  const keptTaps = k - (gram.ones === undefined ? 0 : 1);
  if (keptTaps !== pair.prunedFeatures * gram.taps || stats.count < VECTORS_PER_COLUMN * k) return undefined;
  if (pair.ones !== undefined && Math.abs(P[pair.ones * pc + pair.ones]! - stats.count) > 1e-6 * stats.count) return undefined;
  // Original column j and pruned column a in the paired vector.
  const o = (j: number) => (j === gram.ones ? pair.ones! : j);
  const q = (a: number) => (a < keptTaps ? featureTaps + a : pair.ones!);
  const H = new Float64Array(k * k);
  for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) H[a * k + b] = P[q(a) * pc + q(b)]!;
  let factor: Float64Array;
  try {
    factor = refitFactor(H, k, RIDGE).u;
  } catch {
    return undefined;
  }
  // B = W C (rows x k), C[j][a] = P[o(j)][q(a)]; then V = B H⁻¹ = (B Uᵀ) U.
  const B = new Float64Array(rows * k);
  const columns = Array.from({ length: cols }, (_, j) => o(j) * pc);
  for (let m = 0; m < rows; m++) {
    for (let j = 0; j < cols; j++) {
      const v = W[m * cols + j]!;
      if (v === 0) continue;
      const row = columns[j]!;
      for (let a = 0; a < k; a++) B[m * k + a]! += v * P[row + q(a)]!;
    }
  }
  const V = solveRowsWithFactor(B, rows, factor, k);
  // ‖W x_o − V x_p‖² − ‖W x_o‖² = V G_pp Vᵀ − 2 B·V (G_pp without the ridge).
  for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) H[a * k + b] = P[q(a) * pc + q(b)]!;
  const errorOf = (v: Float64Array) => {
    const quadratic = reconstructionEnergy({ rows, cols: k, data: Float32Array.from(v) }, new Float32Array(rows * k), H, false).error;
    let cross = 0;
    for (let i = 0; i < v.length; i++) cross += B[i]! * v[i]!;
    return quadratic - 2 * cross;
  };
  const restricted = others.map((full) => Float64Array.from({ length: rows * k }, (_, i) => full[Math.floor(i / k) * cols + K[i % k]!]!));
  const candidates = [V, ...restricted].map((v) => ({ v, error: errorOf(v) }));
  const best = candidates.reduce((x, y) => (y.error < x.error ? y : x));
  if (!Number.isFinite(best.error)) return undefined;
  const values = new Float64Array(rows * cols);
  for (let m = 0; m < rows; m++) for (let a = 0; a < k; a++) values[m * cols + K[a]!] = best.v[m * k + a]!;
  // Errors as ‖W x_o − V x_p‖², from the constant ‖W x_o‖² = W G_oo Wᵀ on the same (paired) samples.
  const constant = pairedTotal(P, pc, W, rows, cols, o);
  return { values, error: Math.max(0, constant + best.error), errorWithout: Math.max(0, constant + candidates[candidates.length - 1]!.error) };
}

/** Σ_m W_m G_oo W_mᵀ with G_oo read from the paired Gram (original columns mapped by `o`), in the kernel. */
function pairedTotal(P: Float64Array, pc: number, W: Float64Array, rows: number, cols: number, o: (j: number) => number): number {
  const G = new Float64Array(cols * cols);
  for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) G[i * cols + j] = P[o(i) * pc + o(j)]!;
  return reconstructionEnergy({ rows, cols, data: Float32Array.from(W) }, new Float32Array(rows * cols), G, false).error;
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
