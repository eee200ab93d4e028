import { fingerprint, type Granularity } from '@specprune/core';
import { addGraphOutputs, cutModelBefore, cutTensors, dtypeCode, findWeights, liftable, liftWeightsToInputs, parseModel, readWeight, serializeModel, updateWeight, type DTypeName, type MatrixView } from '@specprune/onnx-io';
import type { ResolvedInput } from '@specprune/device-runner/inputs';
import { pruneWeight } from './engine.js';
import { PruneInputError, throwIfAborted } from './errors.js';
import { clock, floatValues, isFloatTensor, openSession, randomSamples, SESSION_OPTIONS, type Feeds, type InferenceSession, type OrtRuntime, type Tensor } from './runtime.js';

/** Sparsities at which each weight's end-to-end sensitivity is measured. */
export const SCAN_GRID = [0, 0.3, 0.5, 0.7, 0.9] as const;

export interface ScanItem {
  key: string;
  view: MatrixView;
  values?: Float32Array;
}

export interface ScannerOptions {
  /** Concrete inputs to generate random samples for (when no `feeds` are given). */
  specs?: readonly ResolvedInput[];
  values: Record<string, number>;
  /** Random samples to draw when no `feeds` are given. */
  samples: number;
  seed: number;
  /** Stops measurements between runs. */
  signal?: AbortSignal;
  /** Sample inputs to use instead of random ones (e.g. the first calibration samples). */
  feeds?: ReadonlyArray<Feeds>;
  /** The weights (by graph/name key) measurements will replace: fed as inputs of one session where possible. */
  keys?: readonly string[];
  /** Measure each weight downstream of a cut before its first consumer (default true; false: the whole model each time). */
  cuts?: boolean;
  /**
   * The original values of a weight (by key) where the caller holds them already: the scanner feeds those
   * arrays instead of decoding its own copy (never modified; the caller must not modify them either).
   */
  valuesOf?: (key: string) => Float32Array | undefined;
}

/** Runs the model with some weights replaced and measures how far its outputs move. */
export interface Scanner {
  /**
   * Output distortion ||y' - y|| / ||y|| over every float output, averaged over the samples, with the
   * given weights (by graph/name key) replaced by new values.
   */
  distortion(replacements: ReadonlyArray<{ key: string; values: Float32Array }>): Promise<number>;
  /** The inputs every measurement runs on, and the original model's outputs on them. */
  readonly samples: ReadonlyArray<Feeds>;
  readonly baseline: ReadonlyArray<Feeds>;
  /** How measurements run: one session with the weights as inputs, or a new session each. */
  readonly mode: 'one session, samples batched' | 'one session' | 'a session per measurement';
  /** Seconds one measurement takes in the shared session (timed on the scan inputs), when there is one. */
  readonly secondsPerMeasurement?: number;
  /** What the measurements hold besides the model: the activations captured at cuts, when there are any. */
  readonly held?: string;
  /** Measurements so far that ran only the nodes downstream of the changed weights (from captured activations). */
  readonly fromCuts: number;
  /** Measurements run so far, and those answered from an earlier one of the same weight with the same values (nothing ran). */
  readonly ran: number;
  readonly remembered: number;
  /** Frees the shared session. */
  release(): Promise<void>;
}

/**
 * A scanner on inputs shaped from the model (seeded random, `--shape`/`--value`) or on given samples.
 * Throws a PruneInputError when inputs cannot be built (e.g. symbolic dims without --shape).
 *
 * Measurements run in one session: the weights named in `keys` that are main-graph float32 initializers
 * become graph inputs of a copy of the model, so replacing one is a different feed, not a new model
 * (parsing, editing, serialising and creating a session for every measurement dominated the scan). Other
 * weights, or a model whose outputs change when its weights are inputs (beyond float rounding), are
 * measured by rebuilding the model per measurement.
 */
export async function createScanner(runtime: OrtRuntime, modelBytes: Uint8Array, label: string, options: ScannerOptions): Promise<Scanner> {
  const reference = await openSession(runtime, modelBytes, label);
  const samples = options.feeds
    ? [...options.feeds]
    : randomSamples(runtime, options.specs ?? [], options.seed, 'scan-inputs', options.samples, options.values);
  const baseline: Array<Feeds> = [];
  try {
    for (const feeds of samples) baseline.push(await reference.run(feeds));
  } catch (error) {
    const shapes = Object.entries(samples[0] ?? {}).map(([name, t]) => `${name} ${t.dims.join('x')}`).join(', ');
    throw new PruneInputError(`${label} fails to run on inputs of shape ${shapes}: ${String((error as Error).message).split('\n')[0]}; give the shapes you run it at with --shape NAME=DIMS.`);
  } finally {
    await reference.release();
  }
  const outputs = Object.keys(baseline[0] ?? {}).filter((n) => isFloatTensor(baseline[0]![n]!));
  const measure = async (session: InferenceSession, against: readonly Feeds[], extra: Feeds = {}): Promise<number> => {
    let total = 0;
    for (let k = 0; k < samples.length; k++) total += relativeDistance(against[k]!, await session.run({ ...samples[k]!, ...extra }), outputs);
    return roundMeasurement(total / samples.length);
  };
  const rebuild = async (replacements: ReadonlyArray<{ key: string; values: Float32Array }>): Promise<number> => {
    const model = parseModel(modelBytes, { label });
    const weights = findWeights(model);
    for (const { key, values } of replacements) updateWeight(model, weights.find((w) => `${w.graph}/${w.name}` === key)!, values, 'dense');
    const session = await openSession(runtime, serializeModel(model), label);
    try {
      return await measure(session, baseline);
    } finally {
      await session.release();
    }
  };
  const shared = await openLiftedSession(runtime, modelBytes, label, options.keys ?? [], samples, baseline, outputs, options.valuesOf);
  const suffixes = shared && options.cuts !== false ? await openSuffixes(runtime, modelBytes, label, shared, samples, outputs) : undefined;
  let fromCuts = 0;
  // One weight's same values always move the outputs the same way (same samples, same sessions): a measurement
  // asked again is answered from memory. The final pass asks again for most weights: the values the scan
  // measured at a grid sparsity the allocation chose, and a weight left whole twice (as its choice and as its
  // magnitude twin).
  const measuredBefore = new Map<string, number>();
  let [ran, remembered] = [0, 0];
  const measureNow = async (replacements: ReadonlyArray<{ key: string; values: Float32Array }>): Promise<number> => {
    if (!shared || !replacements.every((r) => shared.feeds.has(r.key))) return rebuild(replacements);
    const extra: Feeds = {};
    for (const { key, values } of replacements) {
      const original = shared.feeds.get(key)!;
      extra[original.name] = new runtime.Tensor('float32', values, original.tensor.dims);
    }
    const fromCut = await suffixes?.distortion(replacements.map((r) => r.key), extra);
    if (fromCut !== undefined) {
      fromCuts++;
      return fromCut;
    }
    if (!shared.batch) return measure(shared.session, shared.baseline, { ...shared.weightFeeds, ...extra });
    const outs = splitBatch(await shared.session.run({ ...shared.batch, ...shared.weightFeeds, ...extra }), samples.length)!;
    let total = 0;
    for (let k = 0; k < samples.length; k++) total += relativeDistance(shared.baseline[k]!, outs[k]!, outputs);
    return roundMeasurement(total / samples.length);
  };
  return {
    ...(suffixes
      ? { held: `each weight measured downstream of its first consumer, from activations at ${suffixes.cuts} cuts (${(suffixes.heldBytes / 1e6).toFixed(0)} MB held)` }
      : {}),
    get fromCuts() {
      return fromCuts;
    },
    get ran() {
      return ran;
    },
    get remembered() {
      return remembered;
    },
    samples,
    baseline,
    mode: shared ? (shared.batch ? 'one session, samples batched' : 'one session') : 'a session per measurement',
    ...(shared ? { secondsPerMeasurement: shared.seconds } : {}),
    async distortion(replacements) {
      throwIfAborted(options.signal);
      const memo = replacements.length === 1 ? `${replacements[0]!.key}\u0000${fingerprint(replacements[0]!.values)}` : undefined;
      const before = memo === undefined ? undefined : measuredBefore.get(memo);
      if (before !== undefined) {
        remembered++;
        return before;
      }
      const distortion = await measureNow(replacements);
      ran++;
      if (memo !== undefined) measuredBefore.set(memo, distortion);
      return distortion;
    },
    async release() {
      await suffixes?.release();
      await shared?.session.release();
    },
  };
}

/** Relative distance ||b - a|| / ||a|| over the given float outputs (a non-finite difference counts as huge). */
function relativeDistance(a: Feeds, b: Feeds, names: readonly string[]): number {
  let num = 0;
  let den = 0;
  for (const name of names) {
    const x = floatValues(a[name]!);
    const y = floatValues(b[name]!);
    for (let i = 0; i < x.length; i++) {
      const d = (y[i] ?? 0) - x[i]!;
      num += Number.isFinite(d) ? d * d : 1e30;
      den += x[i]! * x[i]!;
    }
  }
  return Math.sqrt(num / (den || 1));
}

/**
 * Measurements are rounded to 6 significant digits, so choices made from them do not depend on float
 * rounding that differs between machines or thread counts.
 */
export function roundMeasurement(x: number): number {
  return Number.isFinite(x) && x !== 0 ? Number(x.toPrecision(6)) : x;
}

/** The largest relative change of the outputs the weights-as-inputs copy may show on unchanged weights. */
const LIFT_TOLERANCE = 1e-5;

interface LiftedSession {
  session: InferenceSession;
  /** The weights fed as inputs, by key: input name and original values. */
  feeds: Map<string, { name: string; tensor: Tensor }>;
  weightFeeds: Feeds;
  /** The copy's own outputs on the samples with the original weights. */
  baseline: Feeds[];
  /** The samples as one batch along dim 0, where the model answers a batch as it answers each sample. */
  batch?: Feeds;
  /** Seconds the copy took to answer all samples once (one measurement). */
  seconds: number;
}

/** A session on a copy of the model whose measured weights are inputs, or undefined where that cannot be used. */
async function openLiftedSession(
  runtime: OrtRuntime,
  modelBytes: Uint8Array,
  label: string,
  keys: readonly string[],
  samples: readonly Feeds[],
  baseline: readonly Feeds[],
  outputs: readonly string[],
  valuesOf?: (key: string) => Float32Array | undefined,
): Promise<LiftedSession | undefined> {
  if (keys.length === 0 || samples.length === 0) return undefined;
  const model = parseModel(modelBytes, { label });
  const wanted = new Set(keys);
  const weights = findWeights(model).filter((w) => wanted.has(`${w.graph}/${w.name}`) && liftable(w));
  if (weights.length === 0) return undefined;
  const feeds = new Map<string, { name: string; tensor: Tensor }>();
  const weightFeeds: Feeds = {};
  for (const weight of weights) {
    const key = `${weight.graph}/${weight.name}`;
    const held = valuesOf?.(key);
    const tensor = new runtime.Tensor('float32', held?.length === weight.numel ? held : readWeight(model, weight), weight.shape);
    feeds.set(key, { name: weight.name, tensor });
    weightFeeds[weight.name] = tensor;
  }
  liftWeightsToInputs(model, weights);
  let session: InferenceSession;
  try {
    session = await runtime.InferenceSession.create(serializeModel(model), SESSION_OPTIONS);
  } catch {
    return undefined;
  }
  const answersLikeTheModel = (own: ReadonlyArray<Feeds> | undefined): own is Feeds[] =>
    own !== undefined && own.every((out, k) => outputs.every((name) => out[name]) && relativeDistance(baseline[k]!, out, outputs) <= LIFT_TOLERANCE);
  try {
    // One run of all samples as a batch keeps the kernels busier (and threads useful) than runs of one.
    const batch = batchFeeds(runtime, samples);
    if (batch) {
      const started = clock();
      const own = await session.run({ ...batch, ...weightFeeds }).then(
        (result) => splitBatch(result, samples.length),
        () => undefined,
      );
      if (answersLikeTheModel(own)) return { session, feeds, weightFeeds, baseline: own, batch, seconds: (clock() - started) / 1000 };
    }
    const started = clock();
    const own: Feeds[] = [];
    for (const sample of samples) own.push(await session.run({ ...sample, ...weightFeeds }));
    const seconds = (clock() - started) / 1000;
    // Some operators compute differently on inputs than on constants (or need constants): keep the
    // copy only where it answers like the model itself.
    if (answersLikeTheModel(own)) return { session, feeds, weightFeeds, baseline: own, seconds };
  } catch {
    // Measured by rebuilding the model instead.
  }
  await session.release();
  return undefined;
}

/** Runs the part of the model downstream of the changed weights, from activations captured once. */
interface Suffixes {
  /** Cuts with a tensor crossing them, and the bytes of the captured activations held for them. */
  cuts: number;
  heldBytes: number;
  /** The distortion with the given weights (keys) fed the `extra` values, or undefined where no cut applies. */
  distortion(keys: readonly string[], extra: Feeds): Promise<number | undefined>;
  release(): Promise<void>;
}

/** Suffix sessions kept open at once (the scan measures one weight after another, each with its own cut). */
const SUFFIX_SESSIONS = 2;

/**
 * Measurements that run only the nodes a changed weight can affect: the activations crossing the cut just
 * before the weight's first consumer are captured once per sample (original weights), and a copy of the
 * model without the nodes before the cut, those activations as inputs, runs in its own session, built once
 * per cut. Nothing upstream of the cut changes, so the outputs are those of the whole model; each cut's
 * session is checked against the whole model's outputs on the original weights (like the lifted copy) and
 * a cut that does not answer like it is measured on the whole model instead. Undefined where no cut helps.
 */
async function openSuffixes(
  runtime: OrtRuntime,
  modelBytes: Uint8Array,
  label: string,
  shared: LiftedSession,
  samples: readonly Feeds[],
  outputs: readonly string[],
): Promise<Suffixes | undefined> {
  const lifted = parseModel(modelBytes, { label });
  const names = new Set([...shared.feeds.values()].map((f) => f.name));
  liftWeightsToInputs(lifted, findWeights(lifted).filter((w) => names.has(w.name) && liftable(w)));
  const liftedBytes = serializeModel(lifted);
  const graph = parseModel(liftedBytes, { label }).graph;
  // The first node reading each measured weight (a weight only read inside subgraphs has none).
  const firstConsumer = new Map<string, number>();
  for (const [key, { name }] of shared.feeds) {
    const at = graph.nodes.findIndex((n) => n.inputs.includes(name));
    if (at > 0) firstConsumer.set(key, at);
  }
  const cuts = new Map<number, string[]>();
  for (const at of new Set(firstConsumer.values())) {
    const crossing = cutTensors(graph, at);
    if (crossing && crossing.length > 0) cuts.set(at, crossing);
  }
  if (cuts.size === 0) return undefined;
  const runs: Feeds[] = shared.batch ? [shared.batch] : [...samples];
  // One run of a copy that also outputs every crossing tensor captures them all.
  const captured: Feeds[] = runs.map(() => ({}));
  try {
    const capture = parseModel(liftedBytes, { label });
    addGraphOutputs(capture, [...new Set([...cuts.values()].flat())]);
    // onnxruntime-node 1.x crashes (SIGSEGV) running a ResNet-50 with its Conv activations as outputs at
    // level 'all' (the NCHWc layout pass); 'extended' runs it, and every cut is checked against the model anyway.
    const session = await runtime.InferenceSession.create(serializeModel(capture), { ...SESSION_OPTIONS, graphOptimizationLevel: 'extended' });
    try {
      for (const [r, feeds] of runs.entries()) {
        const result = await session.run({ ...feeds, ...shared.weightFeeds });
        for (const name of new Set([...cuts.values()].flat())) captured[r]![name] = result[name]!;
      }
    } finally {
      await session.release();
    }
  } catch {
    return undefined;
  }
  const open = new Map<number, InferenceSession | null>();
  // The cut models that answered like the whole model (their bytes are small: the measured weights are inputs).
  const checked = new Map<number, Uint8Array>();
  const pick = (session: InferenceSession, r: number, extra: Feeds): Feeds => {
    const all: Feeds = { ...runs[r]!, ...shared.weightFeeds, ...extra, ...captured[r]! };
    return Object.fromEntries(session.inputNames.map((n) => [n, all[n]!]));
  };
  const measure = async (session: InferenceSession, extra: Feeds): Promise<number[] | undefined> => {
    const distances: number[] = [];
    for (let r = 0; r < runs.length; r++) {
      const result = await session.run(pick(session, r, extra));
      const outs = shared.batch ? splitBatch(result, samples.length) : [result];
      if (!outs || !outs.every((out) => outputs.every((name) => out[name]))) return undefined;
      for (const out of outs) distances.push(relativeDistance(shared.baseline[distances.length]!, out, outputs));
    }
    return distances;
  };
  const sessionAt = async (at: number): Promise<InferenceSession | null> => {
    if (open.has(at)) return open.get(at)!;
    let session: InferenceSession | null = null;
    try {
      let bytes = checked.get(at);
      if (!bytes) {
        const model = parseModel(liftedBytes, { label });
        const first = captured[0]!;
        const inputs = cuts.get(at)!.map((name) => ({ name, dataType: Number(dtypeCode(first[name]!.type as DTypeName)), dims: first[name]!.dims }));
        cutModelBefore(model, at, inputs);
        bytes = serializeModel(model);
      }
      session = await runtime.InferenceSession.create(bytes, SESSION_OPTIONS);
      // A cut checked once (same bytes, same options) is not checked again when its session is reopened.
      const own = checked.has(at) ? [] : await measure(session, {});
      if (!own || own.some((d) => !(d <= LIFT_TOLERANCE))) {
        await session.release();
        session = null;
      } else checked.set(at, bytes);
    } catch {
      if (session) await session.release();
      session = null;
    }
    // Only a few sessions stay open; a cut that failed its check stays marked (null) so it is not rebuilt.
    const live = [...open.entries()].filter(([, s]) => s !== null);
    if (session && live.length >= SUFFIX_SESSIONS) {
      const [oldest, old] = live[0]!;
      open.delete(oldest);
      await old!.release();
    }
    open.set(at, session);
    return session;
  };
  const heldBytes = captured.reduce((acc, feeds) => acc + Object.values(feeds).reduce((a, t) => a + (t.data as ArrayLike<number> & { byteLength: number }).byteLength, 0), 0);
  return {
    cuts: cuts.size,
    heldBytes,
    async distortion(keys, extra) {
      const ats = keys.map((k) => firstConsumer.get(k));
      if (ats.some((at) => at === undefined)) return undefined;
      const at = Math.min(...(ats as number[]));
      if (!cuts.has(at)) return undefined;
      const session = await sessionAt(at);
      if (!session) return undefined;
      const distances = await measure(session, extra);
      if (!distances) return undefined;
      return roundMeasurement(distances.reduce((a, b) => a + b, 0) / distances.length);
    },
    async release() {
      for (const session of open.values()) await session?.release();
      open.clear();
    },
  };
}

/** Samples whose every input has a leading dim of 1, concatenated along it; undefined when they cannot be. */
function batchFeeds(runtime: OrtRuntime, samples: readonly Feeds[]): Feeds | undefined {
  if (samples.length < 2) return undefined;
  const batch: Feeds = {};
  for (const [name, first] of Object.entries(samples[0]!)) {
    const rest = first.dims.slice(1).join('x');
    const parts = samples.map((sample) => sample[name]);
    if (parts.some((t) => !t || t.type !== first.type || t.dims[0] !== 1 || t.dims.slice(1).join('x') !== rest || typeof t.data === 'string' || Array.isArray(t.data))) return undefined;
    const data = first.data as Float32Array;
    const joined = new (data.constructor as Float32ArrayConstructor)(data.length * parts.length);
    parts.forEach((t, k) => joined.set(t!.data as Float32Array, k * data.length));
    batch[name] = new runtime.Tensor(first.type, joined, [parts.length, ...first.dims.slice(1)]);
  }
  return batch;
}

/** A batch's outputs split into one per sample, or undefined when an output does not lead with the batch dim. */
function splitBatch(result: Feeds, count: number): Feeds[] | undefined {
  const outs: Feeds[] = Array.from({ length: count }, () => ({}));
  for (const [name, tensor] of Object.entries(result)) {
    if (tensor.dims[0] !== count || typeof tensor.data === 'string' || Array.isArray(tensor.data)) return undefined;
    const data = tensor.data as Float32Array;
    const size = data.length / count;
    for (let k = 0; k < count; k++) outs[k]![name] = { type: tensor.type, dims: [1, ...tensor.dims.slice(1)], data: data.subarray(k * size, (k + 1) * size) } as unknown as Tensor;
  }
  return outs;
}

export interface ScanOptions {
  /** The sparsities measured (default SCAN_GRID; a leading part of it), 0 first. */
  grid?: readonly number[];
  /** The pruned values of one weight at each sparsity of the grid after 0 (the method the prune will use). */
  valuesAt: (item: ScanItem, index: number) => Promise<Float32Array[]>;
  /**
   * Weights whose values are asked for before they are measured (work running elsewhere meanwhile); with
   * `laneOf`, how many each lane has asked and not yet answered.
   */
  ahead?: number;
  /**
   * Where each item's values are computed (a worker lane), or undefined where `valuesAt` computes them in
   * place. Given, every lane keeps `ahead` items asked, and the scan measures whichever asked item's values
   * come first (a measurement depends only on the weight and its values, so the curves are the same in any
   * order): a lane busy with one long piece of work no longer holds up the measurements of the others.
   */
  laneOf?: (index: number) => number | undefined;
  /** Items asked before the others (each in its lane), e.g. those whose work is a large part of their lane's. */
  first?: readonly number[];
  onProgress?: (done: number, total: number) => void;
}

/**
 * Per-layer sensitivity scan: prunes each weight alone at SCAN_GRID, runs the model in onnxruntime-node
 * and records the output distortion. Layers differ enormously here in ways a per-matrix spectral error
 * cannot see (input scales, what later layers amplify). Returns one monotone curve per item.
 */
export async function scanSensitivity(scanner: Scanner, items: readonly ScanItem[], options: ScanOptions): Promise<number[][]> {
  const grid = options.grid ?? SCAN_GRID;
  const steps = items.length * (grid.length - 1);
  const curves: number[][] = new Array(items.length);
  let done = 0;
  const measureItem = async (index: number, values: readonly Float32Array[]) => {
    const curve = [0];
    for (const pruned of values) {
      curve.push(await scanner.distortion([{ key: items[index]!.key, values: pruned }]));
      options.onProgress?.(++done, steps);
    }
    // Distortion should not fall as sparsity rises; keep the curve monotone against sampling noise.
    for (let k = 1; k < curve.length; k++) curve[k] = Math.max(curve[k]!, curve[k - 1]!);
    curves[index] = curve;
  };
  const laneOf = options.laneOf;
  if (!laneOf) {
    // In model order, the next `ahead` items' values asked while one is measured.
    const asked = new Map<number, Promise<Float32Array[]>>();
    const ask = (index: number) => {
      if (!asked.has(index)) asked.set(index, options.valuesAt(items[index]!, index));
      return asked.get(index)!;
    };
    for (const index of items.keys()) {
      for (let next = index + 1; next <= index + (options.ahead ?? 0) && next < items.length; next++) void ask(next).catch(() => undefined);
      const values = await ask(index);
      asked.delete(index);
      await measureItem(index, values);
    }
    return curves;
  }
  // Each lane's items in the order they are asked: `first`, then model order. Items computed in place
  // (no lane) are asked one at a time.
  const firstSet = new Set(options.first ?? []);
  const queues = new Map<number | undefined, number[]>();
  for (const index of [...(options.first ?? []), ...[...items.keys()].filter((i) => !firstSet.has(i))]) {
    const lane = laneOf(index);
    if (!queues.has(lane)) queues.set(lane, []);
    queues.get(lane)!.push(index);
  }
  const window = (lane: number | undefined) => (lane === undefined ? 1 : Math.max(1, options.ahead ?? 1));
  const pending = new Map<number, Promise<{ index: number; values: Float32Array[] }>>();
  const asking = new Map<number | undefined, number>();
  const fill = () => {
    for (const [lane, queue] of queues) {
      while (queue.length && (asking.get(lane) ?? 0) < window(lane)) {
        const index = queue.shift()!;
        asking.set(lane, (asking.get(lane) ?? 0) + 1);
        const answer = options.valuesAt(items[index]!, index).then((values) => ({ index, values }));
        answer.catch(() => undefined);
        pending.set(index, answer);
      }
    }
  };
  while (pending.size || [...queues.values()].some((q) => q.length)) {
    fill();
    const { index, values } = await Promise.race(pending.values());
    pending.delete(index);
    const lane = laneOf(index);
    asking.set(lane, asking.get(lane)! - 1);
    // The lane asks its next item before this one is measured, so it works meanwhile.
    fill();
    await measureItem(index, values);
  }
  return curves;
}

/** Magnitude pruning of one weight for the data-free scan. */
export function magnitudeAt(item: ScanItem, sparsity: number, granularity: Granularity, seed: number): Float32Array {
  return pruneWeight(item.values!, item.view, Math.round(sparsity * item.values!.length), 'magnitude', granularity, seed, item.key, { measureSpectralError: false }).values;
}
