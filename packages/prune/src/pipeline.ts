import type { InputStats, MethodName } from '@specprune/core';
import { countNonzero as countNonzeroFloats, fingerprint, frobeniusDistance, frobeniusNorm, gramBytes } from '@specprune/core';
import {
  bitmaskModelUnsupported,
  bitmaskUnsupported,
  countNonzero,
  denseFloat32View,
  denseTensorOf,
  readTensorBytes,
  findWeights,
  matrixView,
  parseModel,
  readWeight,
  lowersPrecision,
  quantizedUnsupported,
  roundTripValues,
  serializeForRuntime,
  unchangedModelBytes,
  setMetadata,
  sparseStorageUnsupported,
  storageBytes,
  updateWeight,
  type ValueForm,
  type MatrixView,
  type OnnxModel,
  type Storage,
  type WeightRef,
} from '@specprune/onnx-io';
import { allocate, BLIND_DISTORTION, CURVE_GRID, curvePointsRead, spectralErrorCurves } from './allocate.js';
import { collectInputStats, planInputStats, type CollectOptions } from './calibration.js';
import { measurePruned, pruneMagnitudeInPlace, pruneWeight, pruneWeightWithStats, reconstructionErrorOf, type DataAwarePruned, type PrunedWeight } from './engine.js';
import { isInputError, PruneInputError, PruneOptionError, throwIfAborted } from './errors.js';
import { blindComparison, measureFidelity, type Fidelity } from './fidelity.js';
import { likelyBatched, planInputs } from './model-inputs.js';
import { DATA_AWARE_METHODS, resolvePruneOptions, type PruneOptions, type ResolvedPruneOptions } from './options.js';
import { balancePhases, busiestLoads, firstHandOut, workCosts } from './lanes.js';
import { estimatePrune, MEASUREMENT_PER_BATCHED_RUN, MEASUREMENT_PER_RUN, reviseEstimate, type EstimateInputs, type PruneEstimate } from './estimate.js';
import { CHECK_SAMPLES, clock, openSession, secondsSince, randomSamples, withThreads, type Feeds, type OrtRuntime } from './runtime.js';
import { createScanner, magnitudeAt, scanSensitivity, SCAN_GRID, type Scanner } from './sensitivity.js';
import { doWeightWork, type PruneWork, type WeightWorkers, type WeightWorkResult } from './weight-work.js';
import { pruneStructured, type StructureReport } from './structure/run.js';
import { choosePrecisionForBytes, type PrecisionChoice } from './target-bytes.js';

/** A long phase's progress: `done` of `total` steps, `item` naming the current weight where there is one. */
export interface PruneProgress {
  /** Structured pruning (`structure`) also reports 'group sensitivity', 'candidates', 'second pass' and 'timing'. */
  phase: 'statistics' | 'sensitivity scan' | 'pruning' | 'check' | 'group sensitivity' | 'candidates' | 'second pass' | 'timing';
  done: number;
  total: number;
  item?: string;
}

/** What the pipeline needs from its caller besides the model and the options. */
export interface PruneContext {
  /** onnxruntime-node or onnxruntime-web (the module), used for every measurement. */
  runtime: OrtRuntime;
  /** Calibration samples (data-aware pruning): one feed per sample. */
  calibration?: readonly Feeds[];
  /** The model's name in messages (a file name, say). Default "the model". */
  label?: string;
  onProgress?: (progress: PruneProgress) => void;
  /** Log lines and warnings, as they happen (warnings are also in the report). */
  onLog?: (message: string) => void;
  /** Aborting stops the work at the next step (PruneAbortedError); nothing is returned. */
  signal?: AbortSignal;
  /** Keep each weight's values before and after, and error curves for every weight (for plots). */
  keepMatrices?: boolean;
  /** metadata_props entries to write into the pruned model (provenance). */
  metadata?: Record<string, string>;
  /**
   * Intra-op threads of every onnxruntime session the pipeline opens (the CLI passes the number of cores).
   * Default 1. The result does not depend on it.
   */
  threads?: number;
  /** Worker threads for the per-weight numerical work (Node: the CLI's pool); without, it runs in place. Same result either way. */
  workers?: WeightWorkers;
  /** Turns a run the runtime refused on calibration sample `index` into the caller's error (naming its file, say). */
  explainRunError?: (error: unknown, feeds: Feeds, index: number) => Error;
  /**
   * Called with the pruned model once it is complete, before it is loaded and checked, so the caller can
   * write it (to a temporary file) and measure it meanwhile: the check's session creation holds one thread
   * for seconds on large models. It may change how the model is stored (external data): the bytes the
   * check loads and `model` returns are taken before. What it throws ends the prune.
   */
  onPruned?: (model: OnnxModel) => void;
  /**
   * Called near the start of a prune that measures in the runtime (after the first statistics sample, or when
   * the scan's session is timed), with how long the whole prune will take (seconds): a caller can say so. Called
   * a second time, with `revised` set, when the timed scan measurement moves an estimate made from the first
   * statistics run by more than a quarter. Structured pruning calls it once its first re-fit candidate is timed
   * (its own `phases`) and again, with `revised`, where its search moves the estimate by more than a quarter.
   */
  onEstimate?: (estimate: PruneEstimate) => void;
}

/** Per weight, what `prune --json` reports. */
export interface WeightReport {
  name: string;
  graph: string;
  shape: number[];
  sparsity: number;
  method: string;
  spectralError: number | null;
  frobeniusError: number;
  reconstructionError?: number | null;
  storage: 'dense' | 'sparse' | 'bitmask';
  /**
   * Precision of the stored values (`--values`): float32 means the weight's own dtype; float16 or int8 under
   * bitmask storage, where the measured output distortion allowed it (see valuesBasis).
   */
  values: ValueForm;
}

export interface CalibrationSummary {
  /** calibration: the caller's samples; synthetic: seeded random inputs (syntheticSamples). */
  source: 'calibration' | 'synthetic';
  samples: number;
  /** Weights pruned with their own input statistics. */
  observed: number;
  /** Of those, weights with a Gram matrix (re-fit possible). */
  withGram: number;
  gramBytes: number;
  normsOnly: Array<{ name: string; gramBytes: number }>;
  unobservable: Array<{ name: string; reason: string }>;
}

/** The document `prune --json` prints, without the file paths and sizes the Node layer adds. */
export interface PruneReport {
  sparsity: number;
  targetSparsity: number;
  method: string;
  allocation: string;
  allocationBasis?: string;
  methodBasis?: 'output' | 'spectral';
  calibration?: CalibrationSummary;
  granularity: string;
  seed: number;
  /** Nonzeros of every weight of the pruned model; params: their elements. */
  nnz: number;
  params: number;
  weights: WeightReport[];
  skipped: Array<{ name: string; graph: string; numel: number; reason: string }>;
  fidelity: Fidelity;
  warnings: string[];
  /** Seconds per phase. */
  timings: Record<string, number>;
  /** With structure: the channels removed (structure/run.ts). */
  structure?: StructureReport;
  /** The run's time as estimated near its start (seconds; see estimate.ts), where one was made, with its latest revision (`revised`): compare with `timings`. */
  estimate?: PruneEstimate;
  /** --target-bytes without --values: the value precision chosen with the sparsity, and the candidates tried. */
  precision?: PrecisionChoice;
}

/** A weight's details for plots (HTML report): its matrix view, and with keepMatrices its values and curve. */
export interface WeightDetail extends WeightReport {
  numel: number;
  nnz: number;
  view: MatrixView;
  original?: Float32Array;
  pruned?: Float32Array;
  /** [sparsity, error] of this weight alone, and what the error measures. */
  curve?: Array<[number, number]>;
  curveLabel?: 'output distortion' | 'spectral error';
}

export interface PruneResult {
  /** The pruned model as one buffer (serialised on first access; external data inlined). */
  readonly model: Uint8Array;
  /** The pruned model as parsed, for writers that keep external data. */
  readonly onnx: OnnxModel;
  readonly report: PruneReport;
  readonly details: WeightDetail[];
}

/**
 * A sampler chosen for its lower spectral error must also move the model's outputs clearly less than
 * magnitude pruning (by this factor) when measured alone: random sampling adds variance that compounds
 * across layers, which a one-weight-at-a-time measurement does not see. On the PP-OCRv4 recogniser at 30%,
 * a sampler 2.5% better alone (4 random inputs) cost 5 of 100 lines together with the rest.
 */
const SAMPLER_MARGIN = 0.9;
/** A re-fit on random inputs is kept when it moves the outputs on other random inputs no more than magnitude does. */
const REFIT_MARGIN = 1;
/**
 * Weights without input statistics go to the worker threads from this size on: below it, sending the weight
 * and its result costs about as much as the work (a 256x256 weight's spectral error takes a few milliseconds).
 */
const PLAIN_WORK_MIN_NUMEL = 1 << 16;
/** Bytes of inverse factors the scan may keep for the final pass (the PP-OCRv4 recogniser's 2880-input convolution: 66 MB). */
const KEPT_FACTOR_BYTES = 128 << 20;
/** The runtime cannot run what the defaults measure: stop, naming what would work (options named as the caller spells them). */
function unmeasurable(error: Error): PruneOptionError {
  const reason = error.message.replace(/\.$/, '');
  return new PruneOptionError('method', (n) => `${reason}. The default pruning measures the model in onnxruntime; to prune without any measurement, choose ${n('method')}=magnitude and ${n('allocation')}=global, and check the result on your own data.`);
}

interface Selected {
  weight: WeightRef;
  key: string;
  values?: Float32Array;
}

/**
 * Prunes an ONNX model: every weight viewed as a matrix is sparsified so that what the model computes is
 * preserved, measured in the given runtime (sensitivity scan, input statistics, the output check of the
 * result). `model` is ONNX bytes (external data must be inlined) or a parsed model (from onnx-io's
 * readModel, which resolves external data). No files, no printing: progress and logs go to the context.
 */
export async function prune(model: Uint8Array | OnnxModel, options: PruneOptions, given: PruneContext): Promise<PruneResult> {
  if (options.structure !== undefined) return pruneStructured(model, options, given, prune);
  const started = clock();
  const context: PruneContext = { ...given, runtime: withThreads(given.runtime, given.threads) };
  const timings: Record<string, number> = {};
  const label = context.label ?? 'the model';
  const resolved = resolvePruneOptions(options, context.calibration !== undefined);
  if (context.calibration && context.calibration.length === 0) throw new PruneInputError(`no calibration samples were given for ${label}; give at least one sample, or none for data-free pruning.`);
  const onnx = model instanceof Uint8Array ? parseModel(model, { label }) : model;
  const warnings: string[] = [];
  const log = (message: string) => context.onLog?.(message);
  const warn = (message: string) => {
    warnings.push(message);
    log(`warning: ${message}`);
  };
  let o = resolved;
  const all = findWeights(onnx);
  const sparseBlocked = (weight: WeightRef) => sparseStorageUnsupported(onnx, weight);
  if (o.storage === 'sparse') {
    const blocked = all.map(sparseBlocked).find((reason) => reason !== undefined);
    if (blocked) throw new PruneOptionError('storage', (n) => `${n('storage')} sparse cannot be used for ${label}: ${blocked}; use ${n('storage')} auto (sparse where the model allows it) or dense.`);
  }
  if (o.storage === 'bitmask') {
    const blocked = bitmaskModelUnsupported(onnx);
    if (blocked) throw new PruneOptionError('storage', (n) => `${n('storage')} bitmask cannot be used for ${label}: ${blocked}; use ${n('storage')} auto or dense.`);
  }
  const storageOf = (weight: WeightRef, nnz: number) => chooseStorage(onnx, weight, nnz, o, sparseBlocked);
  const bitmaskFallbacks: string[] = [];
  const plan = planInputs(onnx, label, o.shape);
  const needsValues = o.allocation !== 'uniform';
  const selected: Selected[] = [];
  const skipped: PruneReport['skipped'] = [];
  for (const weight of all) {
    if (o.exclude.some((re) => re.test(weight.name))) skipped.push({ name: weight.name, graph: weight.graph, numel: weight.numel, reason: 'excluded' });
    else if (weight.numel < o.minParams) skipped.push({ name: weight.name, graph: weight.graph, numel: weight.numel, reason: `fewer than ${o.minParams} elements` });
    else selected.push({ weight, key: `${weight.graph}/${weight.name}`, ...(needsValues ? { values: readWeight(onnx, weight) } : {}) });
  }
  if (selected.length === 0) log(`no weight of ${label} is selected (${all.length} found; check exclude and minParams).`);
  const items = selected.map((s) => ({ key: s.key, numel: s.weight.numel, view: matrixView(s.weight), ...(s.values ? { values: s.values } : {}) }));
  let sparsity: number;
  let precisionChoice: PrecisionChoice | undefined;
  if (o.targetBytes !== undefined && o.valuesFromTarget) {
    // The byte target over sparsity x storage x value precision: each precision's sparsity, tried and measured.
    const base = o;
    const calibrationFeeds = context.calibration?.slice(0, 8);
    precisionChoice = await choosePrecisionForBytes({
      model: onnx,
      selected,
      items,
      sparsityFor: (values) => chooseSparsityForBytes(onnx, selected, items, { ...base, values }, (w, nnz) => chooseStorage(onnx, w, nnz, { ...base, values }, sparseBlocked)),
      granularity: o.granularity,
      seed: o.seed,
      runtime: context.runtime,
      label,
      samples: calibrationFeeds?.length ? calibrationFeeds : plan.problem ? undefined : randomSamples(context.runtime, plan.specs!, o.seed, 'verify-inputs', CHECK_SAMPLES, o.value),
      inputs: calibrationFeeds?.length ? 'calibration' : 'random',
      ...(plan.problem ? { unmeasurable: plan.problem.replace(/\.$/, '') } : {}),
      ...(context.signal ? { signal: context.signal } : {}),
    });
    o = { ...o, values: precisionChoice.values };
    sparsity = precisionChoice.sparsity;
    const tried = precisionChoice.candidates.map((c) => `${c.values} at ${(c.sparsity * 100).toFixed(1)}%${c.minCosine === null ? '' : ` (cosine ${c.minCosine.toFixed(4)})`}`).join(', ');
    log(`target bytes: ${precisionChoice.values} values at ${(sparsity * 100).toFixed(1)}% sparsity, of ${tried}`);
    if (precisionChoice.unmeasured) warn(`the value precision for --target-bytes was not measured (${precisionChoice.unmeasured}): the lowest that fits was taken.`);
  } else sparsity = o.targetBytes !== undefined ? chooseSparsityForBytes(onnx, selected, items, o, storageOf) : o.sparsity;

  const dataAware = o.method === 'spectral' || DATA_AWARE_METHODS.includes(o.method);
  const scanAllocation = o.allocation === 'spectral' && o.granularity.kind !== 'nm' && selected.length > 1;
  const chooseByOutput = o.method === 'spectral' && !o.calibration && o.methodBasis !== 'spectral' && selected.length > 0;
  if ((scanAllocation || chooseByOutput) && !o.calibration && plan.problem) {
    // Never fall back to choices measured on nothing: the spectral error alone destroyed real models.
    throw new PruneInputError(
      `${label}: ${plan.problem.replace(/\.$/, '')}. The default pruning runs the model on generated inputs to measure each layer's damage, so every input needs a size (or give calibration samples).`,
    );
  }
  // The runtime is given bytes, so external data is inlined for it (once, before any weight changes). An
  // unedited model without external data is given its own bytes (no copy); the scanner may rebuild the
  // original from them while weights are pruned, so then no dense write may rewrite them in place.
  let runtimeBytesCache: Uint8Array | undefined;
  const runtimeBytes = () => {
    if (!runtimeBytesCache) {
      const own = unchangedModelBytes(onnx);
      if (own && (scanAllocation || chooseByOutput)) onnx.ownsBytes = false;
      runtimeBytesCache = own ?? serializeForRuntime(onnx);
    }
    return runtimeBytesCache;
  };
  if (scanAllocation || chooseByOutput || o.calibration) {
    // Everything measured below runs in the runtime: a model it cannot load stops here, not halfway.
    try {
      await (await openSession(context.runtime, runtimeBytes(), label)).release();
    } catch (error) {
      if (!isInputError(error)) throw error;
      throw unmeasurable(error);
    }
  }
  for (const assumed of plan.assumed) warn(`input ${assumed} (a batch of 1; give a shape to run at another size)`);
  log(`pruning ${selected.length} of ${all.length} weights of ${label} to ${(sparsity * 100).toFixed(1)}% (${o.method}, ${o.allocation} allocation)`);

  // Calibration: sample inputs, and (for data-aware methods) every observable weight's input statistics.
  const feeds = context.calibration ? (o.calibrationSamples === undefined ? [...context.calibration] : context.calibration.slice(0, o.calibrationSamples)) : undefined;
  const stats = new Map<string, InputStats>();
  // Per-weight work (statistics, re-fits, candidates) in place, or on worker threads: each weight on one
  // lane, whose worker keeps its statistics from the first sample to the last use.
  const workers = context.workers;
  const laneIndex = new Map(selected.map((s, idx) => [s.key, idx]));
  const balanced = new Map<string, number>();
  const laneOf = (key: string) => balanced.get(key) ?? laneIndex.get(key)! % (workers?.size ?? 1);
  /** Each phase's work on the busiest lane (seconds, as estimated when the lanes were balanced). */
  let laneWork: number[] | undefined;
  /** The same with the kept factors computed once (what the estimate is told; laneWork orders the work). */
  let estimatedWork: number[] | undefined;
  /** Each weight's estimated work per phase on the workers (statistics, scan, final; as balanced), by key. */
  const phaseWork = new Map<string, readonly number[]>();
  /** A weight's estimated work in a phase on its worker (nanoseconds, as balanced; 0 without statistics there). */
  const phaseCost = (idx: number, phase: 1 | 2) => phaseWork.get(items[idx]!.key)?.[phase] ?? 0;
  /** Of `candidates`, those whose work in `phase` is at least half the busiest lane's, largest first (see longWork). */
  const longAmong = (candidates: readonly number[], phase: 1 | 2): number[] => {
    // laneWork is in seconds, the per-weight costs in nanoseconds.
    const busiest = laneWork?.[phase];
    if (!workers || !busiest) return [];
    return candidates.filter((idx) => phaseCost(idx, phase) * 1e-9 >= busiest / 2).sort((a, b) => phaseCost(b, phase) - phaseCost(a, phase) || a - b);
  };
  /**
   * Weights whose factors the scan's work keeps for the final pass (up to KEPT_FACTOR_BYTES): those with long
   * final work (longAmong), where computing the factor again is most of it. Elsewhere factors are computed
   * again (memory). Chosen with the lanes.
   */
  const factorsKept = new Set<string>();
  /**
   * Spreads the weights with statistics over the lanes by estimated work in each phase that runs on the
   * workers (see balancePhases), and chooses the factors kept. Results do not depend on the lanes.
   */
  const balanceLanes = (costs: ReadonlyMap<string, number>, grams: ReadonlyMap<string, { cols: number; groups: number }>) => {
    const indices = selected.map((_, idx) => idx).filter((idx) => costs.has(selected[idx]!.key));
    const phaseCosts = indices.map((idx) => [costs.get(selected[idx]!.key)!, ...workCosts(items[idx]!.numel, grams.get(selected[idx]!.key))]);
    const lanes = balancePhases(phaseCosts, workers?.size ?? 1);
    indices.forEach((idx, k) => {
      balanced.set(selected[idx]!.key, lanes[k]!);
      phaseWork.set(selected[idx]!.key, phaseCosts[k]!);
    });
    laneWork = busiestLoads(phaseCosts, lanes, workers?.size ?? 1).map((ns) => ns / 1e9);
    if (scanAllocation) {
      let room = KEPT_FACTOR_BYTES;
      for (const idx of longAmong(indices, 2)) {
        const gram = grams.get(items[idx]!.key);
        const bytes = gram ? gramBytes(gram.cols, gram.groups) : 0;
        if (bytes === 0 || bytes > room) continue;
        room -= bytes;
        factorsKept.add(items[idx]!.key);
      }
    }
    // The final pass of a weight whose factor is kept does not compute it again (the recogniser's: 1.6 s).
    const withKept = indices.map((idx, k) => (factorsKept.has(items[idx]!.key) ? [phaseCosts[k]![0]!, ...workCosts(items[idx]!.numel, grams.get(items[idx]!.key), { factorKept: true })] : phaseCosts[k]!));
    estimatedWork = busiestLoads(withKept, lanes, workers?.size ?? 1).map((ns) => ns / 1e9);
  };
  /**
   * The run's estimate, after the first statistics sample: from its run's time (taken before the workers
   * compete for the cores) and each phase's busiest lane.
   */
  const statsRun = (done: number, total: number, run: { seconds: number; scale: number }) => {
    if (done !== 1 || !estimatedWork) return;
    const [statsWork = 0, scanWork = 0, finalWork = 0] = estimatedWork;
    const perSample = run.seconds * run.scale;
    announce({
      statistics: { samples: total - done, run: perSample, work: (statsWork * run.scale * (total - done)) / total },
      measurement: (likelyBatched(plan, feeds, scanSamples) ? MEASUREMENT_PER_BATCHED_RUN : MEASUREMENT_PER_RUN) * scanSamples * perSample,
      scanWork,
      finalWork,
    });
  };
  /** The run's estimate (see estimate.ts), with its revision where there is one: told to the caller and kept for the report. */
  let estimate: PruneEstimate | undefined;
  const scanGrid = SCAN_GRID.slice(0, curvePointsRead(SCAN_GRID, sparsity));
  const scanSamples = feeds ? Math.min(feeds.length, o.scanSamples ?? 8) : (o.scanSamples ?? 4);
  const estimateNow = (known: { statistics?: EstimateInputs['statistics']; measurement: number; scanWork: number; finalWork: number }) =>
    estimatePrune({
      at: (clock() - started) / 1000,
      ...(known.statistics ? { statistics: known.statistics } : {}),
      measurement: known.measurement,
      ...(scanAllocation ? { scan: { measurements: selected.length * (scanGrid.length - 1), work: known.scanWork } } : {}),
      prune: { measurements: chooseByOutput ? selected.length : 0, work: known.finalWork },
      workers: workers !== undefined,
    });
  const announce = (known: Parameters<typeof estimateNow>[0]) => {
    if (estimate || !(scanAllocation || chooseByOutput)) return;
    estimate = estimateNow(known);
    context.onEstimate?.(estimate);
  };
  let calibrationSummary: CalibrationSummary | undefined;
  const statsStarted = clock();
  if (feeds && dataAware) {
    // Wanda needs only the per-column norms: no Gram matrices.
    const memory = o.method === 'wanda' ? undefined : o.calibrationMemory;
    calibrationSummary = await gatherStats(context, runtimeBytes(), label, selected, feeds, memory, stats, 'calibration', laneOf, balanceLanes, statsRun);
  } else if (!feeds && o.method === 'spectral' && o.syntheticSamples > 0 && o.methodBasis !== 'spectral' && selected.length > 0) {
    // Data-free: the model's own response to random inputs says how large and how correlated each
    // layer's inputs are (what the layers before it do), which a matrix alone cannot.
    const synthetic = randomSamples(context.runtime, plan.specs!, o.seed, 'synthetic-inputs', o.syntheticSamples, o.value);
    calibrationSummary = await gatherStats(context, runtimeBytes(), label, selected, synthetic, o.calibrationMemory, stats, 'synthetic', laneOf, balanceLanes, statsRun);
  }
  if (calibrationSummary) timings.statistics = secondsSince(statsStarted);
  const valuesOf = (idx: number): Float32Array => items[idx]!.values ?? selected[idx]!.values ?? readWeight(onnx, selected[idx]!.weight);
  // The per-weight work of the methods that use input statistics: in place, or on worker threads
  // (each weight pinned to one, which keeps its statistics after the first piece of work).
  const weightWork = async (idx: number, work: Pick<PruneWork, 'kind' | 'zeros' | 'measureSpectralError' | 'withMagnitude'>): Promise<WeightWorkResult | undefined> => {
    const key = items[idx]!.key;
    const weightStats = stats.get(key);
    if (!weightStats) return undefined;
    // The final work is the weight's last: its statistics are dropped after it, here and in its worker.
    const last = work.kind === 'final';
    if (last) stats.delete(key);
    const keepFactors = !last && factorsKept.has(key);
    const full: PruneWork = { ...work, key, original: valuesOf(idx), view: items[idx]!.view, method: o.method, granularity: o.granularity, seed: o.seed, ...(last ? { last } : {}), ...(keepFactors ? { keepFactors } : {}) };
    return workers ? workers.run({ ...full, stats: weightStats }, laneOf(key)) : doWeightWork(full, weightStats);
  };
  const ahead = workers ? workers.size + 1 : 0;
  /** The weights whose statistics are still held (their final work not yet handed out). */
  const withStats = () => items.map((_, idx) => idx).filter((idx) => stats.has(items[idx]!.key));
  /**
   * Weights whose work in a phase (1: scan, 2: final) is at least half the busiest lane's in that
   * phase, largest first: handed out as the phase starts, so their lanes are not left with them at its end
   * (the PP-OCRv4 recogniser's 2880-input convolution: about 1.6 s for its factor alone in each pass, while
   * the other lane had nothing left). Results do not depend on when work is handed out.
   */
  const longWork = (phase: 1 | 2): number[] => longAmong(withStats(), phase);
  /**
   * A pass's first hand-out (1: scan, 2: final): the long weights above, then the longest others while their
   * values stay within half of `handOutBytes` (the final pass's results wait for it to reach them). Handed out in
   * model order, the ResNet-50-shaped model's last weights (its 2048x1000 Gemm: 4.6 s of work in the final pass)
   * ran alone at the end of both passes.
   */
  const firstOf = (phase: 1 | 2): number[] => {
    const long = longWork(phase);
    if (!workers || !laneWork) return long;
    return firstHandOut(withStats(), long, (idx) => phaseCost(idx, phase), (idx) => 4 * items[idx]!.numel, handOutBytes / 2);
  };
  /** Bytes of weights the final pass hands out beyond the next `ahead`: 32 MB, or four of the largest weights. */
  const handOutBytes = workers ? Math.max(32 << 20, 16 * items.reduce((largest, item) => Math.max(largest, item.numel), 0)) : 0;

  let measured: { grid: readonly number[]; curves: number[][] } | undefined;
  let measuredPoints: number[] | undefined;
  let scanner: Scanner | undefined;
  let allocationBasis: string | undefined;
  if (scanAllocation || chooseByOutput) {
    try {
      scanner = await createScanner(context.runtime, runtimeBytes(), label, {
        ...(plan.specs ? { specs: plan.specs } : {}),
        values: o.value,
        samples: o.scanSamples ?? 4,
        seed: o.seed,
        ...(context.signal ? { signal: context.signal } : {}),
        ...(feeds ? { feeds: feeds.slice(0, o.scanSamples ?? 8) } : {}),
        keys: selected.map((s) => s.key),
        // The original values read for the allocation are fed as they are (one copy of the weights, not two).
        valuesOf: (key) => selected[laneIndex.get(key)!]?.values,
      });
      const count = (scanAllocation ? selected.length * (scanGrid.length - 1) : 0) + (chooseByOutput ? 2 * selected.length : 0);
      const each = scanner.secondsPerMeasurement;
      if (each !== undefined && !estimate) {
        // No estimate yet (no statistics on workers): from this measurement, with the per-weight work in place (one lane).
        const work = selected.map((s) => { const w = stats.get(s.key); return w ? workCosts(s.weight.numel, w.gram ? { cols: w.cols, groups: w.groups } : undefined) : [0, 0]; });
        const [scanWork = 0, finalWork = 0] = busiestLoads(work, work.map(() => 0), 1).map((ns) => ns / 1e9);
        announce({ measurement: each, scanWork, finalWork });
      } else if (each !== undefined && estimate && estimatedWork) {
        // The first estimate predicted this measurement from a statistics run: told again where the timed one moves it.
        const [, scanWork = 0, finalWork = 0] = estimatedWork;
        const revised = reviseEstimate(estimate, estimateNow({ measurement: each, scanWork, finalWork }));
        if (revised) context.onEstimate?.((estimate = revised));
      }
      log(
        `measurements: ${scanner.samples.length} inputs each, ${scanner.mode}${scanner.held ? ` (${scanner.held})` : ''}; up to ${count} to run` +
          (each !== undefined ? ` (${each.toFixed(3)} s each: about ${Math.ceil(count * each)} s of inference, plus the per-weight work)` : ''),
      );
    } catch (error) {
      // Choices measured on nothing are not a fallback: stop and say what would work.
      if (!isInputError(error) || o.calibration) throw error;
      throw unmeasurable(error);
    }
  }
  if (scanner && scanAllocation) {
    const scanStarted = clock();
    const total = selected.length * (scanGrid.length - 1);
    context.onProgress?.({ phase: 'sensitivity scan', done: 0, total });
    const curves = await scanSensitivity(scanner, items, {
      grid: scanGrid,
      // The scan prunes as the final prune will: data-aware where statistics exist, else magnitude.
      valuesAt: async (item, idx) => {
        const aware = await weightWork(idx, { kind: 'scan', zeros: scanGrid.slice(1).map((s) => Math.round(s * items[idx]!.numel)), measureSpectralError: false });
        return aware?.results.map((r) => r.values) ?? scanGrid.slice(1).map((s) => magnitudeAt({ ...item, values: valuesOf(idx) }, s, o.granularity, o.seed));
      },
      // On workers: per lane, one piece of work running and one queued; the scan measures whichever is answered first.
      ...(workers ? { ahead: 2, laneOf: (idx: number) => (stats.has(items[idx]!.key) ? laneOf(items[idx]!.key) : undefined), first: firstOf(1) } : { ahead }),
      onProgress: (done) => context.onProgress?.({ phase: 'sensitivity scan', done, total }),
    });
    // Blindness is judged on the whole grid: a weight whose measured points never moved the outputs (one
    // already that sparse, pruned again) is measured further, where it may still move them.
    const rest = SCAN_GRID.slice(scanGrid.length);
    const still: string[] = [];
    for (const [idx, curve] of rest.length ? curves.entries() : []) {
      if (Math.max(...curve) >= BLIND_DISTORTION) continue;
      still.push(selected[idx]!.weight.name);
      const aware = await weightWork(idx, { kind: 'scan', zeros: rest.map((s) => Math.round(s * items[idx]!.numel)), measureSpectralError: false });
      const values = aware?.results.map((r) => r.values) ?? rest.map((s) => magnitudeAt({ ...items[idx]!, values: valuesOf(idx) }, s, o.granularity, o.seed));
      for (const pruned of values) curve.push(Math.max(curve.at(-1)!, await scanner.distortion([{ key: items[idx]!.key, values: pruned }])));
    }
    if (still.length) {
      const percents = (grid: readonly number[]) => grid.map((g) => `${Math.round(g * 100)}%`).join('/');
      log(`scan: ${still.length} weight(s) did not move the outputs up to ${percents(scanGrid.slice(-1))}, also measured at ${percents(rest)}: ${still.slice(0, 4).join(', ')}${still.length > 4 ? ', ...' : ''}`);
    }
    // The points not measured are never read by the allocation (they lie beyond every weight's reach): they
    // repeat the last measured value, and the report's curves stop where the measurements do.
    measuredPoints = curves.map((c) => c.length);
    measured = { grid: SCAN_GRID, curves: curves.map((c) => SCAN_GRID.map((_, k) => c[Math.min(k, c.length - 1)]!)) };
    allocationBasis = o.calibration ? 'sensitivity-scan (calibration samples)' : 'sensitivity-scan';
    timings.scan = secondsSince(scanStarted);
  } else if (o.allocation === 'spectral' && selected.length > 1) {
    allocationBasis = 'spectral-error';
  }
  const allocation = allocate(items, sparsity, o.allocation, o.granularity, o.seed, measured);
  if (allocation.blind?.length) {
    warn(
      `${allocation.blind.length} weight(s) did not affect the outputs on the scan inputs (a branch those inputs do not take?) and get the target sparsity unmeasured: ${allocation.blind.slice(0, 4).join(', ')}${allocation.blind.length > 4 ? ', ...' : ''}. Give shapes/values for the inputs you ship with.`,
    );
  }
  if (context.keepMatrices && !allocation.curves && selected.length) {
    // Plots show error against sparsity for every weight, whatever the allocation.
    allocation.curves = spectralErrorCurves(items.map((item, idx) => ({ ...item, values: valuesOf(idx) })), o.granularity, o.seed);
    allocation.grid = CURVE_GRID;
  }
  // The check of the result runs on inputs the original has answered before any weight changes.
  const reference = await referenceOutputs(context, runtimeBytes, label, o, scanner, feeds, plan);

  const checkByOutput = scanner !== undefined && chooseByOutput;
  const synthetic = calibrationSummary?.source === 'synthetic';
  const methodBasis: PruneReport['methodBasis'] = o.method === 'spectral' && !o.calibration ? (checkByOutput ? 'output' : 'spectral') : undefined;
  const valuesKeptHigher: string[] = [];
  const valuesBlocked: string[] = [];
  let valuesUnmeasured = 0;
  /**
   * The lowest precision at or above `--values` whose output distortion (this weight alone replaced, on the
   * scan's inputs) stays within VALUES_TOLERANCE of the pruned float values' own; float32 when none does.
   * Without a scanner (unmeasured choices) the asked precision is taken as is, and the summary says so.
   */
  const chooseValues = async (weight: WeightRef, key: string, pruned: Float32Array, nnz: number): Promise<{ form: ValueForm; nnz: number; rounded?: Float32Array }> => {
    const forms = (o.values === 'int8' ? (['int8', 'float16'] as const) : (['float16'] as const)).filter((f) => lowersPrecision(f, weight.dtype));
    if (!forms.length) return { form: 'float32', nnz };
    // With a byte target the sizes were predicted at the asked precision: keeping a higher one could miss it.
    if (!scanner || o.targetBytes !== undefined) {
      valuesUnmeasured++;
      const rounded = roundTripValues(pruned, weight, forms[0]!);
      return { form: forms[0]!, nnz: countNonzeroFloats(rounded), rounded };
    }
    const own = await scanner.distortion([{ key, values: pruned }]);
    for (const form of forms) {
      const rounded = roundTripValues(pruned, weight, form);
      if ((await scanner.distortion([{ key, values: rounded }])) <= own * VALUES_TOLERANCE.relative + VALUES_TOLERANCE.absolute) {
        if (form !== o.values) valuesKeptHigher.push(`${weight.name} (${form})`);
        return { form, nnz: countNonzeroFloats(rounded), rounded };
      }
    }
    valuesKeptHigher.push(`${weight.name} (float32)`);
    return { form: 'float32', nnz };
  };
  const pruneStarted = clock();
  // Each long phase reports its start (done 0), so a progress display times it from there, not from its first step.
  if (selected.length) context.onProgress?.({ phase: 'pruning', done: 0, total: selected.length });
  const details: WeightDetail[] = [];
  // Fast path for huge models: unstructured magnitude without spectral measurement prunes each weight's
  // bytes in place (no copy); the result is identical to the general path's.
  const inPlace = o.method === 'magnitude' && o.granularity.kind === 'unstructured' && !o.spectralError && !context.keepMatrices;
  const scratch = { buffer: new Float32Array(0) };
  // Work on the next weights starts while this one is measured and written.
  const inFlight = new Map<number, Promise<WeightWorkResult | undefined>>();
  const fallback = o.method === 'wanda' || o.method === 'refit' ? 'magnitude' : (o.method as MethodName);
  const finalWork = (idx: number) => {
    if (!inFlight.has(idx)) {
      const key = items[idx]!.key;
      // A weight without statistics goes to a worker too when its measurement is worth a thread (the spectral
      // error of a large weight is most of a magnitude prune's time); the call is the one made in place below.
      const plain = workers && !stats.has(key) && (o.spectralError || fallback !== 'magnitude') && items[idx]!.numel >= PLAIN_WORK_MIN_NUMEL;
      const work: Promise<WeightWorkResult | undefined> = plain
        ? workers.run({ kind: 'plain', key, original: valuesOf(idx), view: items[idx]!.view, zeros: allocation.zeros[idx]!, method: fallback, granularity: o.granularity, seed: o.seed, measureSpectralError: o.spectralError }, idx)
        : weightWork(idx, { kind: 'final', zeros: [allocation.zeros[idx]!], measureSpectralError: o.spectralError, withMagnitude: checkByOutput && synthetic });
      inFlight.set(idx, work);
    }
    return inFlight.get(idx)!;
  };
  for (const idx of firstOf(2)) void finalWork(idx).catch(() => undefined);
  for (const [idx, s] of selected.entries()) {
    throwIfAborted(context.signal);
    // (s.values may be fed to the scanner, which measures with every other weight at its original values.)
    const view = inPlace && items[idx]!.view.blocks.length === 1 ? (denseFloat32View(onnx, s.weight) ?? (scanner ? undefined : s.values) ?? readWeightReusing(onnx, s.weight, scratch)) : undefined;
    const original = view ?? s.values ?? readWeight(onnx, s.weight);
    items[idx]!.values = original;
    s.values = undefined;
    const zeros = allocation.zeros[idx]!;
    let result: PrunedWeight & { reconstructionError?: number | null };
    if (view) result = { ...pruneMagnitudeInPlace(view, zeros), values: view, method: 'magnitude', spectralError: Number.NaN, sparsity: 0 };
    else {
      // The next weights' work is handed out in model order: at least `ahead` of them, and more while their
      // values stay within a few of the largest weights' bytes, so both workers have queued work when a run of
      // weights falls on one lane (the PP-OCRv4 recogniser's last weights, its 2880-input convolution among them).
      // This weight's own work is asked first: handed out after the next ones, the first weight's waited behind
      // all of them (the ResNet-50-shaped model's 43: 15 s with nothing to measure, then the measurements alone).
      const own = finalWork(idx);
      let queued = 0;
      for (let next = idx + 1; next < selected.length; next++) {
        if (next > idx + ahead && queued + 4 * items[next]!.numel > handOutBytes) break;
        queued += 4 * items[next]!.numel;
        void finalWork(next).catch(() => undefined);
      }
      const work = await own;
      inFlight.delete(idx);
      const aware = work?.results[0];
      result = aware ?? work?.plain ?? pruneWeight(original, items[idx]!.view, zeros, fallback, o.granularity, o.seed, s.key, { measureSpectralError: o.spectralError });
      if ((!aware || synthetic) && checkByOutput && result.method !== 'magnitude') {
        // The lowest spectral error is not always the smallest change of what the model computes (a
        // rescaled sampler can leave a larger Frobenius error), and a re-fit on random inputs may fit
        // only those: keep either only if the outputs on the scan's (other) random inputs agree.
        const magnitude = work?.magnitude ?? pruneWeight(original, items[idx]!.view, zeros, 'magnitude', o.granularity, o.seed, s.key, { measureSpectralError: o.spectralError });
        // The same values move the outputs the same way: a re-fit that left the weight whole (zero sparsity,
        // where every candidate is the original) is kept without running anything.
        if (!aware || fingerprint(result.values) !== fingerprint(magnitude.values)) {
          const [own, plain] = [await scanner!.distortion([{ key: s.key, values: result.values }]), await scanner!.distortion([{ key: s.key, values: magnitude.values }])];
          // The workers' twin comes without its spectral error: measured here, where it is kept.
          if (own > (aware ? REFIT_MARGIN : SAMPLER_MARGIN) * plain)
            result = aware && o.spectralError ? { ...magnitude, ...measurePruned(original, magnitude.values, items[idx]!.view, true), method: magnitude.method } : magnitude;
        }
      }
    }
    items[idx]!.values = undefined;
    const storage = storageOf(s.weight, result.nnz);
    if (o.storage === 'bitmask' && storage !== 'bitmask') bitmaskFallbacks.push(`${s.weight.name} (${bitmaskUnsupported(onnx, s.weight)})`);
    // Lower-precision values are chosen per weight on what they do to the outputs; the encoder rounds the
    // pruned values exactly as the measured round trip did.
    const lowerBlocked = o.values === 'float32' || storage === 'sparse' ? undefined : storage === 'bitmask' ? undefined : quantizedUnsupported(onnx, s.weight, o.values);
    if (lowerBlocked) valuesBlocked.push(`${s.weight.name} (${lowerBlocked})`);
    const kept = o.values !== 'float32' && storage !== 'sparse' && !lowerBlocked ? await chooseValues(s.weight, s.key, result.values, result.nnz) : { form: 'float32' as const, nnz: result.nnz };
    updateWeight(onnx, s.weight, result.values, storage, { indices: o.indices, values: kept.form });
    const errors = kept.rounded ? storedErrors(original, result, kept.rounded, items[idx]!.view, o.spectralError) : result;
    details.push({
      name: s.weight.name,
      graph: s.weight.graph,
      shape: s.weight.shape,
      sparsity: s.weight.numel ? 1 - kept.nnz / s.weight.numel : 0,
      method: result.method,
      spectralError: !o.spectralError || Number.isNaN(errors.spectralError) ? null : errors.spectralError,
      frobeniusError: errors.frobeniusError,
      ...(calibrationSummary ? { reconstructionError: result.reconstructionError ?? null } : {}),
      storage,
      values: kept.form,
      numel: s.weight.numel,
      nnz: kept.nnz,
      view: items[idx]!.view,
      ...(allocation.curves
        ? { curve: allocation.grid!.slice(0, measuredPoints?.[idx]).map((g, k) => [g, allocation.curves![idx]![k]!] as [number, number]), curveLabel: allocationBasis?.startsWith('sensitivity-scan') ? ('output distortion' as const) : ('spectral error' as const) }
        : {}),
      // Kept only for plots, so large models are pruned one weight at a time.
      ...(context.keepMatrices ? { original, pruned: result.values } : {}),
    });
    context.onProgress?.({ phase: 'pruning', done: details.length, total: selected.length, item: s.weight.name });
  }
  timings.prune = secondsSince(pruneStarted);
  if (scanner?.remembered) log(`measurements: ${scanner.ran} run, ${scanner.remembered} answered from earlier ones of the same values (nothing to run)`);
  // The workers' memory (their isolates and what their allocators kept) goes before the written model is
  // loaded for the check: loading a bitmask model is the run's most memory-hungry step.
  await workers?.close?.();
  await scanner?.release();
  // What measured the original (its bytes for the runtime, the scan's samples and captured activations)
  // is not needed by the check: let it go before the pruned model is serialised and loaded.
  scanner = undefined;
  runtimeBytesCache = undefined;
  if (valuesKeptHigher.length) log(`values: ${valuesKeptHigher.length} weight(s) kept a higher precision than ${o.values} because ${o.values} moved the outputs more than the pruning itself: ${valuesKeptHigher.slice(0, 5).join('; ')}${valuesKeptHigher.length > 5 ? '; ...' : ''}`);
  if (valuesBlocked.length) warn(`${valuesBlocked.length} weight(s) keep their own precision because ${o.values} values do not cover them: ${valuesBlocked.slice(0, 5).join('; ')}${valuesBlocked.length > 5 ? '; ...' : ''}.`);
  if (valuesUnmeasured && o.targetBytes !== undefined) log(`values: ${o.values} for every weight that can take it (${valuesUnmeasured}), as the size for --target-bytes was predicted with them`);
  else if (valuesUnmeasured) warn(`${o.values} values were not measured per weight (${valuesUnmeasured} weight(s)): the choices of this run are not measured in the runtime; check the result on your own data.`);
  if (bitmaskFallbacks.length) warn(`${bitmaskFallbacks.length} weight(s) are stored dense or sparse (whichever is smaller) because bitmask storage does not cover them: ${bitmaskFallbacks.slice(0, 5).join('; ')}${bitmaskFallbacks.length > 5 ? '; ...' : ''}.`);
  if (context.metadata) setMetadata(onnx, context.metadata);

  const checkStarted = clock();
  let bytesCache: Uint8Array | undefined;
  const prunedBytes = () => (bytesCache ??= serializeForRuntime(onnx));
  if (context.onPruned) {
    prunedBytes();
    context.onPruned(onnx);
  }
  const fidelity = await checkResult(context, prunedBytes, label, reference);
  timings.check = secondsSince(checkStarted);
  if (fidelity.measured) {
    const broken = fidelity.outputs.filter((out) => out.nonFinite > 0);
    if (broken.length) warn(`the pruned model gives non-finite values (NaN/Inf) on output ${broken.map((out) => out.name).join(', ')} where the original does not.`);
    const blind = blindComparison(fidelity.outputs, fidelity.inputs, label);
    if (blind) warn(blind);
  } else warn(`output fidelity was not measured: ${fidelity.reason}`);

  const totalNumel = details.reduce((sum, d) => sum + d.numel, 0);
  const totalNnz = details.reduce((sum, d) => sum + d.nnz, 0);
  const selectedSet = new Set(selected.map((x) => x.weight));
  timings.total = secondsSince(started);
  const report: PruneReport = {
    sparsity: totalNumel ? 1 - totalNnz / totalNumel : 0,
    targetSparsity: sparsity,
    method: o.method,
    allocation: o.allocation,
    ...(allocationBasis ? { allocationBasis } : {}),
    ...(methodBasis ? { methodBasis } : {}),
    ...(precisionChoice ? { precision: precisionChoice } : {}),
    ...(calibrationSummary ? { calibration: calibrationSummary } : {}),
    granularity: o.granularityText,
    seed: o.seed,
    nnz: all.reduce((sum, w) => sum + (selectedSet.has(w) ? 0 : countNonzero(onnx, w)), 0) + totalNnz,
    params: all.reduce((sum, w) => sum + w.numel, 0),
    weights: details.map(({ numel: _n, nnz: _z, view: _v, original: _o, pruned: _p, curve: _c, curveLabel: _l, ...rest }) => rest),
    skipped,
    fidelity,
    warnings,
    timings,
    ...(estimate ? { estimate } : {}),
  };
  return {
    get model() {
      return bytesCache ?? (bytesCache = serializeForRuntime(onnx));
    },
    onnx,
    report,
    details,
  };
}

/** The original model's outputs on the inputs the result is checked on, or why there are none. */
type Reference =
  | { samples: readonly Feeds[]; baseline: readonly Feeds[]; inputs: 'random' | 'calibration' }
  | { reason: string; originalLoads: boolean };

/**
 * The scan's inputs and outputs when it ran; else the first calibration samples or seeded random inputs
 * shaped from the model, run through the original. Never throws for a model that cannot be run: the
 * reason is reported instead.
 */
async function referenceOutputs(
  context: PruneContext,
  runtimeBytes: () => Uint8Array,
  label: string,
  o: ResolvedPruneOptions,
  scanner: Scanner | undefined,
  feeds: readonly Feeds[] | undefined,
  plan: ReturnType<typeof planInputs>,
): Promise<Reference> {
  if (scanner) return { samples: scanner.samples, baseline: scanner.baseline, inputs: o.calibration ? 'calibration' : 'random' };
  // Whether the original loads decides whether the result must (a model the runtime refuses stays refused).
  let session;
  try {
    session = await openSession(context.runtime, runtimeBytes(), label);
  } catch (error) {
    if (!isInputError(error)) throw error;
    return { reason: error.message.replace(/\.$/, ''), originalLoads: false };
  }
  try {
    let samples: readonly Feeds[];
    if (feeds?.length) samples = feeds.slice(0, 8);
    else if (plan.problem) return { reason: plan.problem.replace(/\.$/, ''), originalLoads: true };
    else samples = randomSamples(context.runtime, plan.specs!, o.seed, 'verify-inputs', CHECK_SAMPLES, o.value);
    const baseline: Feeds[] = [];
    try {
      for (const sample of samples) baseline.push(await session.run(sample));
    } catch (error) {
      return { reason: `the original model fails to run on the check inputs (${String((error as Error).message).split('\n')[0]})`, originalLoads: true };
    }
    return { samples, baseline, inputs: feeds?.length ? 'calibration' : 'random' };
  } finally {
    await session.release();
  }
}

/**
 * The check before success: the pruned model loads in the runtime and its outputs are compared with the
 * original's. A pruned model that does not load or run is a bug, never a result.
 */
async function checkResult(context: PruneContext, prunedBytes: () => Uint8Array, label: string, reference: Reference): Promise<Fidelity> {
  const broken = (error: unknown) =>
    new Error(`the pruned model does not load or run in onnxruntime (${String((error as Error).message).split('\n')[0]}); this is a bug: please report it (storage dense may avoid it).`);
  if ('reason' in reference) {
    // Nothing to compare with, but the pruned model must still load (where the original does).
    if (reference.originalLoads) {
      try {
        await (await openSession(context.runtime, prunedBytes(), `the pruned ${label}`)).release();
      } catch (error) {
        throw broken(error);
      }
    }
    return { measured: false, reason: reference.reason };
  }
  const total = reference.samples.length;
  context.onProgress?.({ phase: 'check', done: 0, total });
  let fidelity: Fidelity;
  try {
    fidelity = await measureFidelity(context.runtime, prunedBytes(), `the pruned ${label}`, reference.samples, reference.baseline, reference.inputs);
  } catch (error) {
    throw broken(error);
  }
  context.onProgress?.({ phase: 'check', done: total, total });
  return fidelity;
}

/** Runs the model over the samples and records each observable weight's input statistics. */
async function gatherStats(
  context: PruneContext,
  modelBytes: Uint8Array,
  label: string,
  selected: readonly Selected[],
  feeds: readonly Feeds[],
  /** Room for Gram matrices; undefined: none wanted (per-column norms only). */
  memoryBytes: number | undefined,
  into: Map<string, InputStats>,
  source: CalibrationSummary['source'],
  laneOf: (key: string) => number,
  balance: NonNullable<NonNullable<CollectOptions['workers']>['balance']>,
  onRun: NonNullable<CollectOptions['onSample']>,
): Promise<CalibrationSummary> {
  const { plans, unobservable } = planInputStats(selected.map((s) => ({ key: s.key, weight: s.weight })));
  const what = source === 'calibration' ? 'calibration' : 'input statistics (random inputs)';
  context.onProgress?.({ phase: 'statistics', done: 0, total: feeds.length });
  const started = clock();
  const collected = await collectInputStats(context.runtime, modelBytes, label, plans, feeds, {
    memoryBytes: memoryBytes ?? 0,
    onSample: (done, total, run) => {
      context.onProgress?.({ phase: 'statistics', done, total });
      onRun(done, total, run);
    },
    ...(context.explainRunError ? { explainRunError: context.explainRunError } : {}),
    ...(context.signal ? { signal: context.signal } : {}),
    ...(context.workers ? { workers: { pool: context.workers, laneOf, balance } } : {}),
  });
  // Without Gram matrices by choice (method wanda), no weight lacks one for want of room.
  const withoutGram = memoryBytes === undefined ? [] : collected.withoutGram;
  for (const [key, value] of collected.stats) into.set(key, value);
  const nameOf = (key: string) => selected.find((s) => s.key === key)!.weight.name;
  const gramTotal = collected.gramBytes;
  context.onLog?.(`${what}: ${feeds.length} samples through ${plans.length} weight inputs in ${secondsSince(started).toFixed(1)} s (Gram matrices: ${(collected.packedBytes / 1e6).toFixed(1)} MB, accumulated and held as upper triangles until each weight's last use; ${(gramTotal / 1e6).toFixed(1)} MB as full matrices)`);
  if (withoutGram.length) {
    context.onLog?.(
      `${withoutGram.length} weight(s) need more room for their input Gram matrix than calibrationMemory leaves (${withoutGram
        .slice(0, 3)
        .map((w) => `${nameOf(w.key)}: ${(w.bytes / 1e6).toFixed(1)} MB`)
        .join(', ')}${withoutGram.length > 3 ? ', ...' : ''}); they are pruned with Wanda scores instead of re-fitted. Raise calibrationMemory (--calibration-memory) to re-fit them.`,
    );
  }
  if (unobservable.length) {
    context.onLog?.(
      `${unobservable.length} weight(s) have inputs calibration cannot observe and are pruned data-free: ${unobservable
        .slice(0, 3)
        .map((u) => `${nameOf(u.key)} (${u.reason})`)
        .join('; ')}${unobservable.length > 3 ? '; ...' : ''}`,
    );
  }
  return {
    source,
    samples: feeds.length,
    observed: plans.length,
    withGram: collected.withGram,
    gramBytes: gramTotal,
    normsOnly: withoutGram.map((w) => ({ name: nameOf(w.key), gramBytes: w.bytes })),
    unobservable: unobservable.map((u) => ({ name: nameOf(u.key), reason: u.reason })),
  };
}

/** Decodes a weight into a reused buffer (grown as needed) instead of a fresh array. */
function readWeightReusing(model: OnnxModel, weight: WeightRef, scratch: { buffer: Float32Array }): Float32Array {
  const tensor = denseTensorOf(weight);
  if (!tensor || weight.dtype !== 'float32' || tensor.external) return readWeight(model, weight);
  if (scratch.buffer.length < weight.numel) scratch.buffer = new Float32Array(weight.numel);
  const target = scratch.buffer.subarray(0, weight.numel);
  new Uint8Array(target.buffer, target.byteOffset, target.byteLength).set(readTensorBytes(model, tensor));
  return target;
}

/**
 * targetBytes: the smallest sparsity (on a 1/1000 grid) whose predicted model size fits, from each
 * weight's dense/sparse storage sizes at the nnz the allocation gives. Predictions are exact up to a
 * few header bytes.
 */
function chooseSparsityForBytes(
  model: OnnxModel,
  selected: readonly Selected[],
  items: ReadonlyArray<{ key: string; numel: number; view: MatrixView; values?: Float32Array }>,
  o: ResolvedPruneOptions,
  storageOf: (weight: WeightRef, nnz: number) => Storage,
): number {
  const target = o.targetBytes!;
  const originalBytes = model.bytes.byteLength;
  const rules = { indices: o.indices };
  // What each weight takes now (a second prune may start from bitmask storage).
  const denseNow = selected.map((s) => (s.weight.location === 'bitmask' ? storageBytes(s.weight, countNonzero(model, s.weight), rules).bitmask : storageBytes(s.weight, s.weight.numel, rules).dense));
  const predict = (sparsity: number) => {
    const { zeros } = allocate(items, sparsity, o.allocation === 'spectral' ? 'uniform' : o.allocation, o.granularity, o.seed);
    let size = originalBytes;
    selected.forEach((s, i) => {
      const nnz = s.weight.numel - zeros[i]!;
      size += predictedBytes(model, s.weight, nnz, o)[storageOf(s.weight, nnz)] - denseNow[i]!;
    });
    return size;
  };
  if (predict(0) <= target) return 0;
  let lo = 0;
  let hi = 999;
  if (predict(hi / 1000) > target) {
    const floor = predict(0.999);
    throw new PruneOptionError('targetBytes', (n) => `${n('targetBytes')} ${target} cannot be met: even at 99.9% sparsity the model would be about ${floor} bytes (the rest is not prunable weights; see \`specprune inspect\`).`);
  }
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (predict(mid / 1000) <= target) hi = mid;
    else lo = mid;
  }
  // Header bytes are estimated: one more step of margin.
  return Math.min(0.999, (hi + 1) / 1000);
}

/**
 * The storage a pruned weight is written in: the one asked for, or with auto the smallest the model
 * allows among dense, sparse (COO, int64 indices by default) and bitmask. A weight bitmask storage does
 * not cover (a Constant node, a subgraph) gets the smaller of dense and sparse; a weight sparse storage
 * cannot hold (below IR 6) is dense.
 */
/**
 * Bytes of each storage for `nnz` kept values: dense and bitmask at the precision `--values` asks where the
 * weight can take it (the final choice per weight may keep a higher one), sparse at the weight's own.
 */
function predictedBytes(model: OnnxModel, weight: WeightRef, nnz: number, o: ResolvedPruneOptions): { dense: number; sparse: number; bitmask: number } {
  const plain = storageBytes(weight, nnz, { indices: o.indices });
  if (o.values === 'float32') return plain;
  const lower = storageBytes(weight, nnz, { indices: o.indices, values: o.values });
  return { dense: quantizedUnsupported(model, weight, o.values) ? plain.dense : lower.dense, sparse: plain.sparse, bitmask: lower.bitmask };
}

function chooseStorage(model: OnnxModel, weight: WeightRef, nnz: number, o: ResolvedPruneOptions, sparseBlocked: (weight: WeightRef) => string | undefined): Storage {
  if (o.storage === 'dense' || o.storage === 'sparse') return o.storage;
  const sizes = predictedBytes(model, weight, nnz, o);
  const candidates: Storage[] = ['dense'];
  if (!sparseBlocked(weight)) candidates.push('sparse');
  if (o.storage === 'bitmask' && !bitmaskUnsupported(model, weight)) return 'bitmask';
  if (o.storage === 'auto' && !bitmaskUnsupported(model, weight)) candidates.push('bitmask');
  return candidates.reduce((best, c) => (sizes[c] < sizes[best] ? c : best));
}

/**
 * The errors of a weight as stored with lower-precision values (`rounded`, the decode's values) against the
 * original. Pruning error sits on the zeroed elements and rounding error on the kept ones, so the squared
 * Frobenius errors add: ||W - R||^2 = ||W - P||^2 + ||P - R||^2 with ||W||^2 = ||P||^2 + ||W - P||^2, which
 * needs no copy of W where it was pruned in place; the spectral error is measured again when W is at hand.
 */
function storedErrors(original: Float32Array, pruned: { values: Float32Array; frobeniusError: number; spectralError: number }, rounded: Float32Array, view: MatrixView, spectral: boolean): { frobeniusError: number; spectralError: number } {
  if (original !== pruned.values) return measurePruned(original, rounded, view, spectral);
  const [p, moved] = [frobeniusNorm(pruned.values), frobeniusDistance(pruned.values, rounded)];
  const f = pruned.frobeniusError;
  return { frobeniusError: p ? Math.sqrt(f * f + (1 - f * f) * (moved / p) ** 2) : f, spectralError: pruned.spectralError };
}

/**
 * Lower-precision values are kept when the outputs move at most this much more than with the pruned
 * float values: distortion <= relative x own + absolute (distortion = ||y' - y|| / ||y||, see the scanner).
 */
export const VALUES_TOLERANCE = { relative: 1.1, absolute: 1e-3 } as const;
