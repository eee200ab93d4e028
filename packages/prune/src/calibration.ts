import {
  createInputStats,
  gramBytes,
  packInputStats,
  type ConvGeometry,
  type InputStats,
} from '@specprune/core';
import { addGraphOutputs, halfToFloat, intAttribute, intsAttribute, parseModel, serializeModel, stringAttribute, type WeightRef } from '@specprune/onnx-io';
import { PruneInputError, throwIfAborted } from './errors.js';
import { clock, openSession, type Feeds, type OrtRuntime, type Tensor } from './runtime.js';
import { accumulateActivation, type WeightWorkers } from './weight-work.js';

/** How the input vectors of one weight are read from the activation tensor that feeds its node. */
export interface StatsPlan {
  key: string;
  /** Name of the tensor holding the node's other (data) input. */
  activation: string;
  /** rows: vectors are the rows of the last dim; columns: the columns of [..., K, N]; conv: im2col patches. */
  kind: 'rows' | 'columns' | 'conv';
  cols: number;
  groups: number;
  geometry?: ConvGeometry;
}

export interface PlannedStats {
  plans: StatsPlan[];
  /** Weights whose inputs cannot be observed, and why (they are pruned data-free). */
  unobservable: Array<{ key: string; reason: string }>;
}

/**
 * Decides, per weight, which tensor carries the inputs its matrix view multiplies and how to cut it into
 * vectors. Weights consumed inside If/Loop/Scan bodies, recurrent R weights, ConvTranspose and 3-D
 * convolutions are reported as unobservable.
 */
export function planInputStats(weights: ReadonlyArray<{ key: string; weight: WeightRef }>): PlannedStats {
  const plans: StatsPlan[] = [];
  const unobservable: PlannedStats['unobservable'] = [];
  for (const { key, weight } of weights) {
    const plan = planOne(key, weight);
    if (typeof plan === 'string') unobservable.push({ key, reason: plan });
    else plans.push(plan);
  }
  return { plans, unobservable };
}

function planOne(key: string, weight: WeightRef): StatsPlan | string {
  const use = weight.uses[0]!;
  if (weight.uses.some((u) => u.graph !== 'main')) return 'it is used inside a subgraph (If/Loop/Scan body), whose tensors cannot be exposed';
  if (weight.uses.some((u) => u.op !== use.op || u.inputIndex !== use.inputIndex)) return 'its nodes use it in different roles';
  const node = use.node;
  const shape = weight.shape;
  switch (use.op) {
    case 'Conv': {
      const kernel = shape.slice(2);
      if (kernel.length !== 1 && kernel.length !== 2) return `${kernel.length}-D convolutions are not supported for input statistics`;
      const autoPad = stringAttribute(node, 'auto_pad', 'NOTSET') as ConvGeometry['autoPad'];
      const group = intAttribute(node, 'group', 1);
      return {
        key,
        activation: node.inputs[0]!,
        kind: 'conv',
        cols: shape.slice(1).reduce((a, b) => a * b, 1),
        groups: group,
        geometry: { kernel, strides: intsAttribute(node, 'strides'), pads: intsAttribute(node, 'pads'), dilations: intsAttribute(node, 'dilations'), group, autoPad },
      };
    }
    case 'MatMul': {
      if (shape.length !== 2) return 'batched MatMul weights are not supported for input statistics';
      // W as B [K, N]: y = x W, vectors are the rows of A; W as A [M, K]: y = W x, vectors are the columns of B.
      return use.inputIndex === 1
        ? { key, activation: node.inputs[0]!, kind: 'rows', cols: shape[0]!, groups: 1 }
        : { key, activation: node.inputs[1]!, kind: 'columns', cols: shape[1]!, groups: 1 };
    }
    case 'Gemm': {
      const transA = intAttribute(node, 'transA', 0) === 1;
      const transB = intAttribute(node, 'transB', 0) === 1;
      if (use.inputIndex === 1) {
        const k = transB ? shape[1]! : shape[0]!;
        return { key, activation: node.inputs[0]!, kind: transA ? 'columns' : 'rows', cols: k, groups: 1 };
      }
      const k = transA ? shape[0]! : shape[1]!;
      return { key, activation: node.inputs[1]!, kind: transB ? 'rows' : 'columns', cols: k, groups: 1 };
    }
    case 'LSTM':
    case 'GRU':
    case 'RNN':
      if (use.inputIndex !== 1) return 'recurrent (R) weights multiply hidden states, which the graph does not expose';
      return { key, activation: node.inputs[0]!, kind: 'rows', cols: shape[2]!, groups: 1 };
    default:
      return `${use.op} weights are not supported for input statistics`;
  }
}

export interface CollectOptions {
  /** Bytes all Gram matrices together may take; weights beyond it keep per-column norms only. */
  memoryBytes: number;
  /**
   * After each sample: how long its run took (seconds) and how much larger the average sample is
   * (`scale`: the samples' mean element count over this one's; 1 for equal shapes).
   */
  onSample?: (done: number, total: number, run: { seconds: number; scale: number }) => void;
  /** Turns a run the runtime refused on sample `index` into the caller's error (e.g. naming the sample's file). */
  explainRunError?: (error: unknown, feeds: Feeds, index: number) => Error;
  signal?: AbortSignal;
  /**
   * Worker threads that build the statistics instead of this thread: each weight's on its lane, where
   * they stay for the pruning work (the objects returned here are then only placeholders).
   */
  workers?: {
    pool: WeightWorkers;
    laneOf: (key: string) => number;
    /**
     * Told each weight's estimated statistics work (see {@link statsCost}) before the first is posted, to balance
     * the lanes, with the size of the Gram matrices of those that have them (their re-fits come later, on the same lane).
     */
    balance?: (costs: ReadonlyMap<string, number>, grams: ReadonlyMap<string, { cols: number; groups: number }>) => void;
  };
}

/**
 * Estimated cost of building one weight's statistics over `samples` samples like the first, in nanoseconds on
 * the development machine: cutting the input vectors (im2col, norms, transposition: ~2 ns per element), the
 * Gram update (2 flops per multiply-add at ~20 GFLOP/s), and for grouped convolutions ~150 ns per vector of
 * each group (their vectors are short, and each group's batch goes through the kernel on its own: a depthwise
 * 5x5 convolution of the PP-OCRv4 recogniser takes ~300 ns per vector where the other terms give ~110). Used
 * only to spread weights over worker lanes, so it needs to be proportional, not exact.
 */
export function statsCost(plan: StatsPlan, dims: readonly number[], samples: number, withGram: boolean): number {
  const elements = dims.reduce((a, b) => a * b, 1);
  let vectors: number;
  if (plan.kind === 'conv') {
    const channels = dims[1] ?? 1;
    const spatial = elements / Math.max(1, (dims[0] ?? 1) * channels);
    vectors = (dims[0] ?? 1) * spatial * plan.groups;
  } else vectors = elements / Math.max(1, plan.cols);
  const cut = vectors * plan.cols;
  return samples * (2 * cut + (withGram ? 0.1 * vectors * plan.cols * plan.cols : 0) + (plan.groups > 1 ? 150 * vectors : 0));
}

export interface CollectedStats {
  stats: Map<string, InputStats>;
  /** Weights that got norms only because their Gram matrix did not fit in `memoryBytes`. */
  withoutGram: Array<{ key: string; bytes: number }>;
  /** Bytes of all Gram matrices (full, while they are accumulated), and how many weights have one. */
  gramBytes: number;
  /** Bytes they take packed (upper triangles), as they are held between the statistics and their last use. */
  packedBytes: number;
  withGram: number;
}

/**
 * Runs the model once per calibration sample in onnxruntime-node, on a temporary copy whose graph also
 * outputs the data input of every planned weight's node, and streams per-weight input statistics:
 * per-column norms always, Gram matrices X Xᵀ smallest first while they fit in `memoryBytes`.
 * Samples are processed one at a time, so activation memory is one sample's worth.
 */
export async function collectInputStats(
  runtime: OrtRuntime,
  modelBytes: Uint8Array,
  label: string,
  plans: readonly StatsPlan[],
  samples: readonly Feeds[],
  options: CollectOptions,
): Promise<CollectedStats> {
  const stats = new Map<string, InputStats>();
  const withoutGram: CollectedStats['withoutGram'] = [];
  let budget = options.memoryBytes;
  for (const plan of [...plans].sort((a, b) => gramBytes(a.cols, a.groups) - gramBytes(b.cols, b.groups) || a.key.localeCompare(b.key))) {
    // The Gram matrix and, for the re-fit, its inverse factor of the same size.
    const bytes = 2 * gramBytes(plan.cols, plan.groups);
    const fits = bytes <= budget;
    if (fits) budget -= bytes;
    else withoutGram.push({ key: plan.key, bytes });
    // Accumulated as upper triangles from the first sample: full matrices of every weight never exist at once.
    stats.set(plan.key, createInputStats(plan.cols, plan.groups, fits, { packed: true }));
  }
  if (plans.length === 0) return { stats, withoutGram, gramBytes: 0, packedBytes: 0, withGram: 0 };

  const gramTotal = [...stats.values()].reduce((sum, s) => sum + (s.gram ? gramBytes(s.cols, s.groups) : 0), 0);
  const packedTotal = [...stats.values()].reduce((sum, s) => sum + (s.gram ? s.gram.byteLength : 0), 0);
  const withGram = [...stats.values()].filter((s) => s.gram).length;
  const workers = options.workers;
  const handedOver = new Set<string>();
  let posted: Array<Promise<unknown>> = [];
  let previous: Array<Promise<unknown>> = [];
  const meanSize = samples.reduce((sum, feeds) => sum + sizeOf(feeds), 0) / Math.max(1, samples.length);
  const model = parseModel(modelBytes, { label });
  addGraphOutputs(model, [...new Set(plans.map((p) => p.activation))]);
  const session = await openSession(runtime, serializeModel(model), label);
  try {
    for (let k = 0; k < samples.length; k++) {
      throwIfAborted(options.signal);
      let outputs: Feeds;
      const runStarted = clock();
      try {
        outputs = await session.run(samples[k]!);
      } catch (error) {
        throw options.explainRunError?.(error, samples[k]!, k) ?? new PruneInputError(`${label} cannot run on calibration sample ${k + 1}: ${String((error as Error).message).split('\n')[0]}; give samples whose shapes and values suit the model's inputs.`);
      }
      const runSeconds = (clock() - runStarted) / 1000;
      for (const plan of plans) {
        const tensor = outputs[plan.activation] ?? samples[k]![plan.activation];
        if (!tensor) throw new Error(`calibration: ${plan.activation} was not produced`);
        const data = floatActivations(tensor);
        if (!data) {
          throw new PruneInputError(`${label}: the input of weight ${plan.key} (${plan.activation}) is ${tensor.type}; input statistics need floating-point activations.`);
        }
        const s = stats.get(plan.key)!;
        const dims = tensor.dims.map(Number);
        if (k === 0 && workers?.balance && plan === plans[0]) {
          // Lanes are balanced once, from the first sample's activation sizes, before any weight is handed over.
          const costs = new Map<string, number>();
          for (const other of plans) {
            const t = outputs[other.activation] ?? samples[0]![other.activation];
            if (t) costs.set(other.key, statsCost(other, t.dims.map(Number), samples.length, stats.get(other.key)!.gram !== undefined));
          }
          const grams = new Map<string, { cols: number; groups: number }>();
          for (const other of plans) if (stats.get(other.key)!.gram) grams.set(other.key, { cols: stats.get(other.key)!.cols, groups: stats.get(other.key)!.groups });
          workers.balance(costs, grams);
        }
        if (!workers) accumulateActivation(s, plan, data, dims);
        else {
          // The weight's worker builds (and keeps) its statistics while this thread runs the next sample.
          const first = !handedOver.has(plan.key);
          handedOver.add(plan.key);
          const copy = data === tensor.data ? data.slice() : data;
          posted.push(workers.pool.run({ kind: 'accumulate', key: plan.key, plan: { kind: plan.kind, ...(plan.geometry ? { geometry: plan.geometry } : {}) }, activation: { data: copy, dims }, ...(first ? { stats: s } : {}) }, workers.laneOf(plan.key)));
        }
      }
      // One sample in flight: the previous sample's accumulations finish while this one is posted.
      await Promise.all(previous);
      previous = posted;
      posted = [];
      options.onSample?.(k + 1, samples.length, { seconds: runSeconds, scale: meanSize / sizeOf(samples[k]!) });
    }
    await Promise.all(previous);
  } finally {
    await session.release();
  }
  if (workers) await Promise.all(plans.map((plan) => workers.pool.run({ kind: 'finish', key: plan.key }, workers.laneOf(plan.key))));
  else for (const s of stats.values()) packInputStats(s);
  return { stats, withoutGram, gramBytes: gramTotal, packedBytes: packedTotal, withGram };
}

/** Elements of a sample's inputs, all together (at least 1). */
function sizeOf(feeds: Feeds): number {
  return Math.max(1, Object.values(feeds).reduce((sum, t) => sum + t.size, 0));
}

/** A floating-point activation as float32 (float16 models give float16 activations), or undefined. */
function floatActivations(tensor: Tensor): Float32Array | undefined {
  if (tensor.type === 'float32') return tensor.data as Float32Array;
  if (tensor.type === 'float64') return Float32Array.from(tensor.data as Float64Array);
  if (tensor.type === 'float16') return Float32Array.from(tensor.data as Uint16Array, halfToFloat);
  return undefined;
}
