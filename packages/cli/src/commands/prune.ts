import { existsSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import {
  countNonzero,
  denseFloat32View,
  denseTensorOf,
  readTensorBytes,
  findWeights,
  matrixView,
  measureSizes,
  readModel,
  readWeight,
  serializeForRuntime,
  setMetadata,
  sparseStorageUnsupported,
  storageBytes,
  type SparseIndexMode,
  updateWeight,
  allTensors,
  checkWritableFile,
  commitStaged,
  isSameFile,
  readModelHollow,
  stageModel,
  stageTempFile,
  statRegularFile,
  tempPathFor,
  type StagedWrite,
  type WeightRef,
} from '@specprune/onnx-io';
import { defineCommand } from '../command.js';
import { ExitError, isUserError, UsageError } from '../errors.js';
import { formatBytes, formatCount, formatPercent, renderTable } from '../format.js';
import { checkInterrupted, log, printJson, type Io } from '../io.js';
import { createProgress } from '../progress.js';
import { allocate, CURVE_GRID, spectralErrorCurves } from '../prune/allocate.js';
import { createScanner, magnitudeAt, scanSensitivity, SCAN_GRID, type Scanner } from '../prune/sensitivity.js';
import { createSession, inputSpecs, loadOrt, loadSampleFeeds, parseShapes, parseValues, randomFeeds, type OrtModule } from '../eval/inputs.js';
import { measurePruned, pruneMagnitudeInPlace, pruneWeight, pruneWeightWithStats, reconstructionErrorOf, type DataAwarePruned, type PrunedWeight } from '../prune/engine.js';
import { collectInputStats, planInputStats } from '../prune/calibration.js';
import type { InputStats, MethodName } from '@specprune/core';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { describeFidelity, measureFidelity, RANDOM_INPUT_CAVEAT, type Fidelity } from '../prune/fidelity.js';
import { planInputs, type InputPlan } from '../prune/model-inputs.js';
import type { ResolvedInput } from '@specprune/device-runner';
import { pruneStreaming } from '../prune/stream.js';
import { deriveSeed } from '../prune/seed.js';
import { ALLOCATIONS, DATA_AWARE_METHODS, DEFAULT_SYNTHETIC_SAMPLES, METHODS, parsePruneOptions, STORAGES, type PruneOptions } from '../prune/options.js';
import { stageHtmlReport, type ReportWeight } from '../report/html.js';
import { VERSION } from '../version.js';
import { check } from './check.js';
import { preflightBudgets } from '../check/budget.js';
import { benchForBudget } from '../check/bench.js';

export interface PruneArgs {
  model: string;
  output: string;
  sparsity?: number;
  method?: string;
  granularity?: string;
  allocation?: string;
  targetBytes?: number;
  exclude?: string[];
  minParams?: number;
  storage?: string;
  calibration?: string;
  calibrationSamples?: number;
  calibrationMemory?: string;
  syntheticSamples?: number;
  methodBasis?: string;
  seed?: number;
  report?: string;
  json?: boolean;
  inPlace?: boolean;
  spectralError?: boolean;
  sizes?: boolean;
  stream?: boolean;
  budget?: string;
  shape?: string[];
  value?: string[];
  scanSamples?: number;
  ortOnlySparseIndices?: boolean;
}

export const pruneCommand = defineCommand<PruneArgs>({
  command: 'prune <model>',
  describe: 'Sparsify every weight while preserving its spectrum; write a smaller model',
  builder: (yargs) =>
    yargs
      .positional('model', { type: 'string', describe: 'ONNX model to prune (never modified unless --in-place)', demandOption: true })
      .option('output', { alias: 'o', type: 'string', describe: 'where to write the pruned model', requiresArg: true })
      .option('sparsity', { type: 'number', describe: 'target fraction of zeros over the selected weights, in [0, 1)', default: 0.5 })
      .option('method', {
        type: 'string',
        choices: METHODS as unknown as string[],
        default: 'spectral',
        describe:
          'sparsifier. spectral: per weight, the candidate that best preserves the layer: with --calibration, the lowest reconstruction error on the samples among magnitude, wanda and refit; without, the same on random inputs (--synthetic-samples), checked against magnitude on the model\'s outputs, or the lowest spectral error where no statistics exist (see --method-basis). wanda, refit: data-aware, need --calibration',
      })
      .option('granularity', { type: 'string', default: 'unstructured', describe: 'unstructured, N:M (e.g. 2:4, along the input dimension) or block:RxC' })
      .option('allocation', { type: 'string', choices: ALLOCATIONS as unknown as string[], default: 'spectral', describe: 'how the sparsity budget is split across weights' })
      .option('target-bytes', { type: 'number', describe: 'instead of --sparsity: prune until the written model is at most N bytes' })
      .option('exclude', { type: 'string', array: true, describe: 'leave weights whose name matches this regular expression untouched (repeatable)' })
      .option('min-params', { type: 'number', default: 256, describe: 'leave weights with fewer elements untouched' })
      .option('storage', { type: 'string', choices: STORAGES as unknown as string[], default: 'auto', describe: 'dense, sparse (ONNX sparse_initializer with int64 indices, as the ONNX spec requires), or auto: per weight, whichever is smaller' })
      .option('ort-only-sparse-indices', {
        type: 'boolean',
        describe: 'onnxruntime-only: store sparse indices as int16/int32 where they fit (smaller files that onnxruntime loads, but the ONNX spec and onnx.checker reject)',
      })
      .option('calibration', {
        type: 'string',
        describe:
          'folder of .npy sample inputs (one per sample, or INPUTNAME.K.npy): the model runs once over them to record every layer\'s input statistics (data-aware pruning), and the sensitivity scan measures on them instead of random inputs',
      })
      .option('calibration-samples', { type: 'number', describe: 'use only the first N calibration samples (default: all)' })
      .option('calibration-memory', { type: 'string', describe: 'room for the input Gram matrices of the re-fit, e.g. 512MB (default 1GiB); weights beyond it are pruned with Wanda scores' })
      .option('synthetic-samples', {
        type: 'number',
        describe: `without --calibration, --method spectral runs the model on N seeded random inputs (shaped by --shape/--value) to record each layer's input statistics, re-fits kept weights on them, and keeps a re-fit only where it moves the outputs on other random inputs no more than magnitude does. 0 turns it off (default ${DEFAULT_SYNTHETIC_SAMPLES})`,
      })
      .option('method-basis', {
        type: 'string',
        choices: ['output', 'spectral'],
        describe: 'how --method spectral picks each weight\'s candidate without --calibration. output (default when the model can be run): the candidate (re-fit on random inputs, else lowest spectral error) is kept only if it moves the outputs no more than magnitude does; spectral: lowest spectral error alone, without random-input statistics',
      })
      .option('seed', { type: 'number', default: 0, describe: 'every random choice derives from it: same input + seed -> identical bytes' })
      .option('report', { type: 'string', describe: 'write a self-contained HTML report (singular values before/after, error vs sparsity)' })
      .option('in-place', { type: 'boolean', describe: 'allow -o to name the input file' })
      .option('spectral-error', { type: 'boolean', default: true, describe: 'measure each weight\'s spectral error (--no-spectral-error skips it on huge models; reported as null)' })
      .option('budget', { type: 'string', describe: 'after writing, check this budget file (`specprune check`); exit 1 when a limit fails' })
      .option('stream', { type: 'boolean', default: true, hidden: true, describe: 'allow the streaming path for large models' })
      .option('sizes', { type: 'boolean', default: true, describe: 'measure gzip/brotli sizes (--no-sizes skips them on huge models; reported as null)' })
      .option('shape', { type: 'string', array: true, describe: 'input shapes for the sensitivity scan of --allocation spectral: NAME=1x3x224x224 (repeatable)' })
      .option('value', { type: 'string', array: true, describe: 'fill an input with a constant for the scan: NAME=NUMBER (repeatable)' })
      .option('scan-samples', { type: 'number', describe: 'inputs per sensitivity measurement (default 4 random, or the first 8 calibration samples)' })
      .option('json', { type: 'boolean', describe: 'print one JSON document on stdout' })
      .example('$0 prune model.onnx -o model.pruned.onnx', '50% sparsity, spectral method and allocation')
      .example('$0 prune model.onnx -o small.onnx --sparsity 0.7 --report report.html', 'with an HTML report')
      .example('$0 prune model.onnx -o small.onnx --granularity 2:4 --method magnitude', 'N:M sparsity for sparse tensor cores')
      .example('$0 prune model.onnx -o small.onnx --target-bytes 300000', 'prune until the file fits in 300 kB')
      .example('$0 prune model.onnx -o small.onnx --calibration samples/ --sparsity 0.5', 'data-aware: re-fit kept weights on your own sample inputs'),
  run: async (args, io) => {
    // Whatever stops the run (an error, an interrupt), the files it staged are removed, never left half-written.
    const pending: StagedWrite[] = [];
    try {
      return await prune(args, io, pending);
    } finally {
      for (const staged of pending) staged.discard();
    }
  },
});

interface Selected {
  weight: WeightRef;
  key: string;
  /** Loaded up front only when the allocation needs every weight's values; else read one at a time. */
  values?: Float32Array;
}

async function prune(args: PruneArgs, io: Io, pending: StagedWrite[]): Promise<number> {
  if (!args.output) throw new UsageError('prune needs an output file: add -o OUT.onnx (the input is never overwritten unless --in-place).');
  const options = parsePruneOptions(args);
  const dataAware = options.method === 'spectral' || DATA_AWARE_METHODS.includes(options.method);
  if (options.calibration !== undefined && options.allocation !== 'spectral' && !dataAware) {
    throw new UsageError(
      `--calibration feeds data-aware methods (spectral, wanda, refit) and the sensitivity scan of --allocation spectral; with --method ${options.method} and --allocation ${options.allocation} it would be ignored. Drop one of them.`,
    );
  }
  if (args.methodBasis !== undefined && (options.method !== 'spectral' || options.calibration !== undefined)) {
    throw new UsageError(`--method-basis applies to --method spectral without --calibration; drop it.`);
  }
  if (args.syntheticSamples !== undefined && (options.method !== 'spectral' || options.calibration !== undefined || args.methodBasis === 'spectral')) {
    throw new UsageError(
      `--synthetic-samples applies to --method spectral without --calibration (and without --method-basis spectral), where random inputs stand in for calibration samples; drop it.`,
    );
  }
  const input = path.resolve(io.cwd, args.model);
  const output = path.resolve(io.cwd, args.output);
  if (args.report && !args.report.endsWith('.html')) throw new UsageError(`--report ${args.report} must name an .html file.`);
  const readFiles = checkPruneFiles(args, io.cwd);
  // A broken budget file is found before minutes of pruning, not after.
  if (args.budget) preflightBudgets(io.cwd, args.budget, [output]);

  const measureSizesOf = async (file: string) =>
    args.sizes === false ? { bytes: statSync(file).size, gzipBytes: null, brotliBytes: null } : measureSizes(file);
  const before = await measureSizesOf(input);
  const provenance: Record<string, string> = {
    'specprune.tool': 'specprune',
    'specprune.version': VERSION,
    'specprune.options': JSON.stringify({
      sparsity: options.targetBytes !== undefined ? undefined : options.sparsity,
      targetBytes: options.targetBytes,
      method: options.method,
      granularity: options.granularityText,
      allocation: options.allocation,
      exclude: options.exclude.map((r) => r.source),
      minParams: options.minParams,
      storage: options.storage,
      seed: options.seed,
    }),
  };
  // Large models in the simplest configuration stream weight by weight (byte-identical result).
  const streamable =
    options.method === 'magnitude' && options.granularity.kind === 'unstructured' && args.spectralError === false && !args.report && options.allocation === 'uniform' && options.targetBytes === undefined && args.stream !== false;
  const indices: SparseIndexMode = args.ortOnlySparseIndices ? 'ort-narrow' : 'int64';
  // The original's outputs are taken before anything is written (--in-place replaces the input).
  let reference: Reference | undefined;
  if (streamable) reference = await referenceOutputs(input, args, undefined, undefined);
  let staged: StagedWrite | undefined;
  // Everything is written to temporary files first, renamed into place together at the end.
  const streamTarget = streamable ? tempPathFor(output) : undefined;
  const streamed = streamable
    ? pruneStreaming(input, streamTarget!, { sparsity: options.sparsity, minParams: options.minParams, exclude: options.exclude, storage: options.storage, metadata: provenance, indices })
    : undefined;
  let results: ReportWeight[];
  let skipped: Array<{ weight: WeightRef; reason: string }>;
  let all: WeightRef[];
  let written: { externalData?: { path: string; bytes: number } };
  let modelNnz: number;
  let sparsity = options.sparsity;
  let allocationBasis: string | undefined;
  let methodBasis: 'output' | 'spectral' | undefined;
  let calibrationSummary: CalibrationSummary | undefined;
  let inputPlan: InputPlan | undefined;
  let verifyWith: { samples: ReadonlyArray<Record<string, Tensor>>; baseline?: ReadonlyArray<Record<string, Tensor>>; inputs: 'random' | 'calibration' } | undefined;
  /** What a user must read before shipping: fallbacks, assumptions, weights measured on nothing. */
  const warnings: string[] = [];
  const warn = (message: string) => {
    warnings.push(message);
    log(io, `specprune: warning: ${message}`);
  };
  if (streamed) {
    log(io, `specprune: streamed ${streamed.pruned.length} of ${streamed.all.length} weights of ${args.model} to ${formatPercent(sparsity)} (magnitude, uniform allocation, dense storage)`);
    ({ all, skipped, modelNnz } = streamed);
    written = {};
    results = streamed.pruned.map(({ weight, nnz, frobeniusError }) => ({
      name: weight.name,
      graph: weight.graph,
      shape: weight.shape,
      numel: weight.numel,
      nnz,
      sparsity: weight.numel ? 1 - nnz / weight.numel : 0,
      method: 'magnitude',
      spectralError: null,
      frobeniusError,
      storage: 'dense',
      view: '',
      original: new Float32Array(0),
      pruned: new Float32Array(0),
    }));
  } else {
    const model = readModel(input, { label: args.model });
    all = findWeights(model);
    const sparseBlocked = (weight: WeightRef) => sparseStorageUnsupported(model, weight);
    if (options.storage === 'sparse') {
      const blocked = all.map(sparseBlocked).find((reason) => reason !== undefined);
      if (blocked) throw new UsageError(`--storage sparse cannot be used for ${args.model}: ${blocked}; use --storage auto (sparse where the model allows it) or dense.`);
    }
    inputPlan = planInputs(model, args.model, parseShapes(args.shape));
    parseValues(args.value);
    const needsValues = options.allocation !== 'uniform';
    const selected: Selected[] = [];
    skipped = [];
    for (const weight of all) {
      if (options.exclude.some((re) => re.test(weight.name))) skipped.push({ weight, reason: 'excluded' });
      else if (weight.numel < options.minParams) skipped.push({ weight, reason: `fewer than ${options.minParams} elements` });
      else selected.push({ weight, key: `${weight.graph}/${weight.name}`, ...(needsValues ? { values: readWeight(model, weight) } : {}) });
    }
    if (selected.length === 0) log(io, `specprune: no weight of ${args.model} is selected (${all.length} found; check --exclude and --min-params).`);

    const items = selected.map((s) => ({ key: s.key, numel: s.weight.numel, view: matrixView(s.weight), ...(s.values ? { values: s.values } : {}) }));
    sparsity = options.targetBytes !== undefined ? chooseSparsityForBytes({ indices, sparseAllowed: (weight) => !sparseBlocked(weight) }, selected, items, options, before.bytes) : options.sparsity;
    const scanAllocation = options.allocation === 'spectral' && options.granularity.kind !== 'nm' && selected.length > 1;
    const chooseByOutput = options.method === 'spectral' && !options.calibration && args.methodBasis !== 'spectral' && selected.length > 0;
    if ((scanAllocation || chooseByOutput) && !options.calibration && inputPlan.problem) {
      // Never fall back to choices measured on nothing: the spectral error alone destroyed real models.
      throw new UsageError(
        `${args.model}: ${inputPlan.problem.replace(/\.$/, '')}. The default pruning runs the model on generated inputs to measure each layer's damage, so every input needs a size (or give --calibration samples).`,
      );
    }
    // onnxruntime is given bytes, so external data is inlined for it (once, before any weight changes).
    let runtimeBytesCache: Uint8Array | undefined;
    const runtimeBytes = () => (runtimeBytesCache ??= serializeForRuntime(model));
    if (scanAllocation || chooseByOutput || options.calibration) {
      // Everything measured below runs in onnxruntime-node: a model it cannot load stops here, not halfway.
      const ort = await loadOrt();
      try {
        await (await createSession(ort, runtimeBytes(), args.model)).release();
      } catch (error) {
        if (!isUserError(error)) throw error;
        throw new UsageError(
          `${error.message.replace(/\.$/, '')}. The default pruning measures the model in onnxruntime-node; to prune without any measurement, choose --method magnitude --allocation global and check the result on your own data.`,
        );
      }
    }
    for (const assumed of inputPlan.assumed) warn(`input ${assumed} (a batch of 1; give --shape to run at another size)`);
    log(io, `specprune: pruning ${selected.length} of ${all.length} weights of ${args.model} to ${formatPercent(sparsity)} (${options.method}, ${options.allocation} allocation)`);

    // Calibration: sample inputs, and (for data-aware methods) every observable weight's input statistics.
    let feeds: Array<Record<string, Tensor>> | undefined;
    const stats = new Map<string, InputStats>();
    if (options.calibration) {
      feeds = await loadCalibration(runtimeBytes(), args.model, path.resolve(io.cwd, options.calibration), options.calibrationSamples);
      if (dataAware) {
        // Wanda needs only the per-column norms: no Gram matrices.
        const memory = options.method === 'wanda' ? undefined : options.calibrationMemory;
        calibrationSummary = await gatherStats(io, runtimeBytes(), args.model, selected, feeds, memory, stats, 'calibration');
      }
    } else if (options.method === 'spectral' && options.syntheticSamples > 0 && args.methodBasis !== 'spectral' && selected.length > 0) {
      // Data-free: the model's own response to random inputs says how large and how correlated each
      // layer's inputs are (what the layers before it do), which a matrix alone cannot.
      const synthetic = await syntheticFeeds(inputPlan.specs!, args, options);
      calibrationSummary = await gatherStats(io, runtimeBytes(), args.model, selected, synthetic, options.calibrationMemory, stats, 'synthetic');
    }
    const valuesOf = (idx: number): Float32Array => items[idx]!.values ?? selected[idx]!.values ?? readWeight(model, selected[idx]!.weight);
    /** What the final prune does to weight idx at `zeros` zeros, for the methods that use calibration statistics. */
    const dataAwarePrune = (idx: number, zeros: number, measureSpectralError: boolean, scan = false): DataAwarePruned | undefined => {
      const weightStats = stats.get(items[idx]!.key);
      if (!weightStats) return undefined;
      const original = valuesOf(idx);
      const view = items[idx]!.view;
      if (options.method === 'wanda' || options.method === 'refit') return pruneWeightWithStats(original, view, zeros, options.method, options.granularity, weightStats, { measureSpectralError, measureReconstruction: !scan });
      // The scan's curves use the re-fit alone: it wins the choice below on almost every weight (45 of 46
      // on the PP-OCRv4 recogniser), at a third of the cost.
      if (scan) return pruneWeightWithStats(original, view, zeros, 'refit', options.granularity, weightStats, { measureSpectralError: false, measureReconstruction: false });
      // spectral with calibration: the candidate that best preserves the layer's output on the calibration
      // inputs, ‖(W − W′) X‖ (spectrum preservation on the subspace the data uses).
      const refit = pruneWeightWithStats(original, view, zeros, 'refit', options.granularity, weightStats, { measureSpectralError: false });
      if (refit.reconstructionError === null) return pruneWeightWithStats(original, view, zeros, 'wanda', options.granularity, weightStats, { measureSpectralError });
      const candidates: DataAwarePruned[] = [refit];
      if (refit.method === 'refit') candidates.push(pruneWeightWithStats(original, view, zeros, 'wanda', options.granularity, weightStats, { measureSpectralError: false }));
      const magnitude = pruneWeight(original, view, zeros, 'magnitude', options.granularity, options.seed, items[idx]!.key, { measureSpectralError: false });
      candidates.push({ ...magnitude, reconstructionError: reconstructionErrorOf(original, magnitude.values, view, weightStats) });
      const best = candidates.reduce((a, b) => (b.reconstructionError! < a.reconstructionError! ? b : a));
      return measureSpectralError ? { ...best, ...measurePruned(original, best.values, view, true), method: best.method } : best;
    };

    let measured: { grid: readonly number[]; curves: number[][] } | undefined;
    let scanner: Scanner | undefined;
    if (scanAllocation || chooseByOutput) {
      try {
        scanner = await createScanner(runtimeBytes(), args.model, {
          ...(inputPlan.specs ? { specs: inputPlan.specs } : {}),
          values: parseValues(args.value),
          samples: args.scanSamples ?? 4,
          seed: options.seed,
          ...(feeds ? { feeds: feeds.slice(0, args.scanSamples ?? 8) } : {}),
        });
      } catch (error) {
        // Choices measured on nothing are not a fallback: stop and say what would work.
        if (!isUserError(error) || options.calibration) throw error;
        throw new UsageError(
          `${error.message.replace(/\.$/, '')}. The default pruning measures the model in onnxruntime-node; to prune without any measurement, choose --method magnitude --allocation global and check the result on your own data.`,
        );
      }
    }
    if (scanner && scanAllocation) {
      const scanProgress = createProgress(io, 'sensitivity scan', selected.length * (SCAN_GRID.length - 1));
      try {
        const curves = await scanSensitivity(scanner, items, {
          // The scan prunes as the final prune will: data-aware where statistics exist, else magnitude.
          pruneAt: (item, idx, s) => dataAwarePrune(idx, Math.round(s * items[idx]!.numel), false, true)?.values ?? magnitudeAt({ ...item, values: valuesOf(idx) }, s, options.granularity, options.seed),
          onProgress: () => scanProgress.tick(),
        });
        measured = { grid: SCAN_GRID, curves };
        allocationBasis = options.calibration ? 'sensitivity-scan (calibration samples)' : 'sensitivity-scan';
      } finally {
        scanProgress.done();
      }
    } else if (options.allocation === 'spectral' && selected.length > 1) {
      allocationBasis = 'spectral-error';
    }
    const allocation = allocate(items, sparsity, options.allocation, options.granularity, options.seed, measured);
    if (allocation.blind?.length) {
      warn(
        `${allocation.blind.length} weight(s) did not affect the outputs on the scan inputs (a branch those inputs do not take?) and get the target sparsity unmeasured: ${allocation.blind.slice(0, 4).join(', ')}${allocation.blind.length > 4 ? ', ...' : ''}. Give --shape/--value for the inputs you ship with.`,
      );
    }

    if (args.report && !allocation.curves && selected.length) {
      // The report plots error against sparsity for every weight, whatever the allocation.
      const curveItems = items.map((item, idx) => ({ ...item, values: valuesOf(idx) }));
      allocation.curves = spectralErrorCurves(curveItems, options.granularity, options.seed);
      allocation.grid = CURVE_GRID;
    }
    const checkByOutput = scanner !== undefined && chooseByOutput;
    const synthetic = calibrationSummary?.source === 'synthetic';
    if (options.method === 'spectral' && !options.calibration) methodBasis = checkByOutput ? 'output' : 'spectral';
    const progress = createProgress(io, 'pruning', selected.length);
    results = [];
    const keepArrays = Boolean(args.report);
    // Fast path for huge models: unstructured magnitude without spectral measurement prunes each weight's
    // bytes in place (no copy); the result is identical to the general path's.
    const inPlace = options.method === 'magnitude' && options.granularity.kind === 'unstructured' && args.spectralError === false && !keepArrays;
    // One scratch buffer for weights that cannot be viewed in place, so garbage does not pile up.
    const scratch = { buffer: new Float32Array(0) };
    for (const [idx, s] of selected.entries()) {
      const fast = inPlace && items[idx]!.view.blocks.length === 1;
      // Aligned raw float32 data is pruned where it lies; anything else through one decoded copy.
      const view = fast ? (denseFloat32View(model, s.weight) ?? s.values ?? readWeightReusing(model, s.weight, scratch)) : undefined;
      const original = view ?? s.values ?? readWeight(model, s.weight);
      items[idx]!.values = original;
      s.values = undefined;
      const zeros = allocation.zeros[idx]!;
      const measureSpectralError = args.spectralError !== false;
      let result: PrunedWeight & { reconstructionError?: number | null };
      if (view) result = { ...pruneMagnitudeInPlace(view, zeros), values: view, method: 'magnitude', spectralError: Number.NaN, sparsity: 0 };
      else {
        const aware = dataAwarePrune(idx, zeros, measureSpectralError);
        const fallback = options.method === 'wanda' || options.method === 'refit' ? 'magnitude' : (options.method as MethodName);
        result = aware ?? pruneWeight(original, items[idx]!.view, zeros, fallback, options.granularity, options.seed, s.key, { measureSpectralError });
        if ((!aware || synthetic) && checkByOutput && result.method !== 'magnitude') {
          // The lowest spectral error is not always the smallest change of what the model computes (a
          // rescaled sampler can leave a larger Frobenius error), and a re-fit on random inputs may fit
          // only those: keep either only if the outputs on the scan's (other) random inputs agree.
          const magnitude = pruneWeight(original, items[idx]!.view, zeros, 'magnitude', options.granularity, options.seed, s.key, { measureSpectralError });
          const [own, plain] = [await scanner!.distortion([{ key: s.key, values: result.values }]), await scanner!.distortion([{ key: s.key, values: magnitude.values }])];
          if (own > (aware ? REFIT_MARGIN : SAMPLER_MARGIN) * plain) {
            result = aware ? { ...magnitude, reconstructionError: reconstructionErrorOf(original, magnitude.values, items[idx]!.view, stats.get(s.key)!) } : magnitude;
          }
        }
      }
      items[idx]!.values = undefined;
      const sparsityOf = s.weight.numel ? 1 - result.nnz / s.weight.numel : 0;
      const sizes = storageBytes(s.weight, result.nnz, { indices });
      const storage = options.storage === 'auto' ? (!sparseBlocked(s.weight) && sizes.sparse < sizes.dense ? 'sparse' : 'dense') : options.storage;
      updateWeight(model, s.weight, result.values, storage, { indices });
      results.push({
        name: s.weight.name,
        graph: s.weight.graph,
        shape: s.weight.shape,
        numel: s.weight.numel,
        nnz: result.nnz,
        sparsity: sparsityOf,
        method: result.method,
        spectralError: args.spectralError === false || Number.isNaN(result.spectralError) ? null : result.spectralError,
        frobeniusError: result.frobeniusError,
        ...(calibrationSummary ? { reconstructionError: result.reconstructionError ?? null } : {}),
        storage,
        view: items[idx]!.view.description,
        matrixView: items[idx]!.view,
        ...(allocation.curves ? { curve: allocation.grid!.map((g, k) => [g, allocation.curves![idx]![k]!] as [number, number]), curveLabel: allocationBasis?.startsWith('sensitivity-scan') ? 'output distortion' : 'spectral error' } : {}),
        // Kept only for the HTML report, so large models are pruned one weight at a time.
        original: keepArrays ? original : new Float32Array(0),
        pruned: keepArrays ? result.values : new Float32Array(0),
      });
      progress.tick(s.weight.name);
    }
    progress.done();

    reference = await referenceOutputs(input, args, scanner, scanner ? undefined : feeds?.slice(0, 8), inputPlan);
    setMetadata(model, provenance);
    staged = stageModel(model, output, { overwriteInput: !!args.inPlace, protect: readFiles });
    pending.push(staged);
    written = staged.result;
    const totalNnz = results.reduce((s, r) => s + r.nnz, 0);
    const selectedSet = new Set(selected.map((x) => x.weight));
    modelNnz = all.reduce((s, w) => s + (selectedSet.has(w) ? 0 : countNonzero(model, w)), 0) + totalNnz;
  }
  if (streamed) pending.push((staged = stageTempFile(streamTarget!, output)));
  const loadable = staged!.loadable!;
  const fidelity = await verifyWritten(loadable.model, args, reference!, loadable.data ? { externalData: { path: loadable.data } } : {});
  if (fidelity.measured) {
    const broken = fidelity.outputs.filter((o) => o.nonFinite > 0);
    if (broken.length) warn(`the pruned model gives non-finite values (NaN/Inf) on output ${broken.map((o) => o.name).join(', ')} where the original does not.`);
  } else warn(`output fidelity was not measured: ${fidelity.reason}`);
  const after = await measureSizesOf(staged!.tempPath);
  const totalNumel = results.reduce((s, r) => s + r.numel, 0);
  const totalNnz = results.reduce((s, r) => s + r.nnz, 0);
  const achieved = totalNumel ? 1 - totalNnz / totalNumel : 0;

  const report = {
    input: { path: args.model, bytes: before.bytes, gzipBytes: before.gzipBytes, brotliBytes: before.brotliBytes },
    output: { path: args.output, bytes: after.bytes, gzipBytes: after.gzipBytes, brotliBytes: after.brotliBytes, ...(written.externalData ? { externalData: written.externalData } : {}) },
    sparsity: achieved,
    targetSparsity: sparsity,
    method: options.method,
    allocation: options.allocation,
    ...(allocationBasis ? { allocationBasis } : {}),
    ...(methodBasis ? { methodBasis } : {}),
    ...(calibrationSummary ? { calibration: calibrationSummary } : {}),
    granularity: options.granularityText,
    seed: options.seed,
    nnz: modelNnz,
    params: all.reduce((s, w) => s + w.numel, 0),
    weights: results.map(({ original: _o, pruned: _p, curve: _c, curveLabel: _l, view: _v, matrixView: _m, numel: _n, nnz: _z, ...rest }) => rest),
    skipped: skipped.map(({ weight, reason }) => ({ name: weight.name, graph: weight.graph, numel: weight.numel, reason })),
    fidelity,
    warnings,
  };
  if (args.report) {
    pending.push(stageHtmlReport(path.resolve(io.cwd, args.report), {
      title: `specprune report: ${path.basename(args.model)}`,
      input: report.input,
      output: report.output,
      sparsity: achieved,
      method: options.method,
      allocation: options.allocation,
      granularity: options.granularityText,
      weights: results,
      fidelity,
      decisions: [
        ...(allocationBasis ? [['allocation measured by', allocationBasis] as [string, string]] : []),
        ...(methodBasis ? [['method chosen by', methodBasis === 'output' ? 'output distortion on random inputs' : 'spectral error'] as [string, string]] : []),
        ...(calibrationSummary ? [['input statistics from', `${calibrationSummary.samples} ${calibrationSummary.source} sample(s)`] as [string, string]] : []),
      ],
      warnings,
    }));
  }
  // Nothing is in place until everything is complete and the run was not interrupted; the report goes
  // first, so a failed rename leaves no model without its report.
  await checkInterrupted(io);
  commitStaged([...pending].reverse());
  if (args.json) {
    if (args.budget) {
      // One JSON document: the budget results go inside the prune report.
      let captured = '';
      const code = await check({ budget: args.budget, json: true }, { ...io, stdout: { write: (t: string) => (captured += t) } }, benchForBudget);
      printJson(io, { ...report, budget: JSON.parse(captured) });
      return code;
    }
    printJson(io, report);
    return 0;
  }
  const rows = results.map((r) => [
    r.name,
    r.shape.join('x'),
    formatPercent(r.sparsity),
    r.method,
    r.spectralError === null ? '-' : r.spectralError.toFixed(4),
    r.frobeniusError.toFixed(4),
    r.storage,
  ]);
  io.stdout.write(`${renderTable(['weight', 'shape', 'sparsity', 'method', 'spectral err', 'frobenius err', 'storage'], rows)}\n\n`);
  io.stdout.write(
    `${renderTable(
      ['', 'bytes', 'gzip', 'brotli'],
      [
        ['before', formatBytes(before.bytes), optionalBytes(before.gzipBytes), optionalBytes(before.brotliBytes)],
        ['after', formatBytes(after.bytes), optionalBytes(after.gzipBytes), optionalBytes(after.brotliBytes)],
        ['ratio', ratio(after.bytes, before.bytes), ratio(after.gzipBytes, before.gzipBytes), ratio(after.brotliBytes, before.brotliBytes)],
      ],
    )}\n\n`,
  );
  io.stdout.write(
    `${formatCount(results.length)} weights pruned to ${formatPercent(achieved)} sparsity (${formatCount(totalNnz)} of ${formatCount(totalNumel)} kept); wrote ${args.output}${args.report ? ` and ${args.report}` : ''}\n`,
  );
  io.stdout.write(`${describeFidelity(fidelity)}\n`);
  if (fidelity.measured && fidelity.inputs === 'random') io.stdout.write(`${RANDOM_INPUT_CAVEAT}\n`);
  if (warnings.length) io.stdout.write(`${warnings.length} warning(s): see above${args.report ? ` and in ${args.report}` : ''}.\n`);
  if (args.budget) {
    io.stdout.write('\n');
    return check({ budget: args.budget }, io, benchForBudget);
  }
  return 0;
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

interface CalibrationSummary {
  /** calibration: the --calibration folder; synthetic: seeded random inputs (--synthetic-samples). */
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

/** The calibration folder's samples, checked against the model's inputs (at most `limit`). */
async function loadCalibration(modelBytes: Uint8Array, label: string, dir: string, limit: number | undefined): Promise<Array<Record<string, Tensor>>> {
  const ort = await loadOrt();
  const session = await createSession(ort, modelBytes, label);
  const specs = session.inputMetadata.map((m) => ({ name: m.name, dtype: (m.isTensor ? m.type : 'float32') as ResolvedInput['dtype'], shape: m.isTensor ? [...m.shape] : [] }));
  await session.release();
  const feeds = loadSampleFeeds(ort, dir, specs, '--calibration');
  return limit === undefined ? feeds : feeds.slice(0, limit);
}

/**
 * Seeded random inputs for data-free input statistics, drawn from a seed stream apart from the scan's
 * inputs, so that the output check measures on inputs the re-fit has not seen.
 */
async function syntheticFeeds(specs: readonly ResolvedInput[], args: PruneArgs, options: PruneOptions): Promise<Array<Record<string, Tensor>>> {
  const ort = await loadOrt();
  const values = parseValues(args.value);
  return Array.from({ length: options.syntheticSamples }, (_, k) => randomFeeds(ort, specs, deriveSeed(options.seed, 'synthetic-inputs', k), values));
}

/** Runs the model over the calibration samples and records each observable weight's input statistics. */
async function gatherStats(
  io: Io,
  modelBytes: Uint8Array,
  label: string,
  selected: readonly Selected[],
  feeds: ReadonlyArray<Record<string, Tensor>>,
  /** Room for Gram matrices; undefined: none wanted (per-column norms only). */
  memoryBytes: number | undefined,
  into: Map<string, InputStats>,
  source: CalibrationSummary['source'],
): Promise<CalibrationSummary> {
  const { plans, unobservable } = planInputStats(selected.map((s) => ({ key: s.key, weight: s.weight })));
  const what = source === 'calibration' ? 'calibration' : 'input statistics (random inputs)';
  const progress = createProgress(io, what, feeds.length);
  const started = Date.now();
  const collected = await collectInputStats(modelBytes, label, plans, feeds, { memoryBytes: memoryBytes ?? 0, onSample: () => progress.tick() });
  const stats = collected.stats;
  // Without Gram matrices by choice (--method wanda), no weight lacks one for want of room.
  const withoutGram = memoryBytes === undefined ? [] : collected.withoutGram;
  progress.done();
  for (const [key, value] of stats) into.set(key, value);
  const nameOf = (key: string) => selected.find((s) => s.key === key)!.weight.name;
  const gramTotal = [...stats.values()].reduce((sum, s) => sum + (s.gram ? s.gram.byteLength : 0), 0);
  log(
    io,
    `specprune: ${what}: ${feeds.length} samples through ${plans.length} weight inputs in ${((Date.now() - started) / 1000).toFixed(1)} s (Gram matrices: ${formatBytes(gramTotal)})`,
  );
  if (withoutGram.length) {
    log(
      io,
      `specprune: ${withoutGram.length} weight(s) need more room for their input Gram matrix than --calibration-memory leaves (${withoutGram
        .slice(0, 3)
        .map((w) => `${nameOf(w.key)}: ${formatBytes(w.bytes)}`)
        .join(', ')}${withoutGram.length > 3 ? ', ...' : ''}); they are pruned with Wanda scores instead of re-fitted. Raise --calibration-memory to re-fit them.`,
    );
  }
  if (unobservable.length) {
    log(
      io,
      `specprune: ${unobservable.length} weight(s) have inputs calibration cannot observe and are pruned data-free: ${unobservable
        .slice(0, 3)
        .map((u) => `${nameOf(u.key)} (${u.reason})`)
        .join('; ')}${unobservable.length > 3 ? '; ...' : ''}`,
    );
  }
  return {
    source,
    samples: feeds.length,
    observed: plans.length,
    withGram: [...stats.values()].filter((s) => s.gram).length,
    gramBytes: gramTotal,
    normsOnly: withoutGram.map((w) => ({ name: nameOf(w.key), gramBytes: w.bytes })),
    unobservable: unobservable.map((u) => ({ name: nameOf(u.key), reason: u.reason })),
  };
}

/** The original model's outputs on the inputs the written model is checked on, or why there are none. */
type Reference =
  | { samples: ReadonlyArray<Record<string, Tensor>>; baseline: ReadonlyArray<Record<string, Tensor>>; inputs: 'random' | 'calibration' }
  | { reason: string; originalLoads: boolean };

/** Random inputs for the check are drawn from their own seed stream (not the scan's, not the statistics'). */
const VERIFY_SAMPLES = 4;

/**
 * Runs the original model (from its file, so external data is found) on the inputs the written model
 * will be checked on: the scan's (already run), the first calibration samples, or seeded random inputs
 * shaped from the model. Never throws for a model that cannot be run: the reason is reported instead.
 */
async function referenceOutputs(
  input: string,
  args: PruneArgs,
  scanner: Scanner | undefined,
  calibration: ReadonlyArray<Record<string, Tensor>> | undefined,
  plan?: InputPlan,
): Promise<Reference> {
  if (scanner) return { samples: scanner.samples, baseline: scanner.baseline, inputs: args.calibration ? 'calibration' : 'random' };
  let ort: OrtModule;
  let session: InferenceSession;
  try {
    ort = await loadOrt();
    session = await createSession(ort, input, args.model);
  } catch (error) {
    if (!isUserError(error)) throw error;
    return { reason: `${error.message.replace(/\.$/, '')}`, originalLoads: false };
  }
  try {
    let samples: ReadonlyArray<Record<string, Tensor>>;
    if (calibration?.length) samples = calibration;
    else {
      if (plan?.problem) return { reason: `${plan.problem.replace(/\.$/, '')}`, originalLoads: true };
      let specs: ResolvedInput[];
      try {
        specs = plan?.specs ?? inputSpecs(session, parseShapes(args.shape), args.model);
      } catch (error) {
        if (!isUserError(error)) throw error;
        return { reason: error.message.replace(/\.$/, ''), originalLoads: true };
      }
      const values = parseValues(args.value);
      samples = Array.from({ length: VERIFY_SAMPLES }, (_, k) => randomFeeds(ort, specs, deriveSeed(args.seed ?? 0, 'verify-inputs', k), values));
    }
    const baseline: Array<Record<string, Tensor>> = [];
    try {
      for (const feeds of samples) baseline.push(await session.run(feeds));
    } catch (error) {
      return { reason: `the original model fails to run on the check inputs (${String((error as Error).message).split('\n')[0]})`, originalLoads: true };
    }
    return { samples, baseline, inputs: calibration?.length ? 'calibration' : 'random' };
  } finally {
    await session.release();
  }
}

/**
 * The check before success: the written model loads in onnxruntime-node and its outputs are compared
 * with the original's. A written model that does not load or run is removed, never reported as done.
 */
async function verifyWritten(output: string, args: PruneArgs, reference: Reference, written: { externalData?: { path: string } }): Promise<Fidelity> {
  const ort = await loadOrt();
  if ('reason' in reference) {
    // Nothing to compare with, but the written model must still load (where the original does).
    if (!reference.originalLoads) return { measured: false, reason: reference.reason };
    try {
      const session = await createSession(ort, output, args.output);
      await session.release();
    } catch (error) {
      removeWritten(output, written);
      throw new ExitError(70, `the pruned model does not load in onnxruntime-node (${(error as Error).message}); it was removed. This is a bug: please report it (--storage dense may avoid it).`);
    }
    return { measured: false, reason: reference.reason };
  }
  try {
    return await measureFidelity(ort, output, args.output, reference.samples, reference.baseline, reference.inputs);
  } catch (error) {
    removeWritten(output, written);
    throw new ExitError(70, `the pruned model does not load or run in onnxruntime-node (${(error as Error).message.split('\n')[0]}); it was removed. This is a bug: please report it (--storage dense may avoid it).`);
  }
}

function removeWritten(output: string, written: { externalData?: { path: string } }): void {
  for (const file of [output, written.externalData?.path]) if (file && existsSync(file)) unlinkSync(file);
}

/** Decodes a weight into a reused buffer (grown as needed) instead of a fresh array. */
function readWeightReusing(model: Parameters<typeof readWeight>[0], weight: WeightRef, scratch: { buffer: Float32Array }): Float32Array {
  const tensor = denseTensorOf(weight);
  if (!tensor || weight.dtype !== 'float32' || tensor.external) return readWeight(model, weight);
  if (scratch.buffer.length < weight.numel) scratch.buffer = new Float32Array(weight.numel);
  const target = scratch.buffer.subarray(0, weight.numel);
  new Uint8Array(target.buffer, target.byteOffset, target.byteLength).set(readTensorBytes(model, tensor));
  return target;
}

function ratio(after: number | null, before: number | null): string {
  return before && after !== null ? `${(after / before).toFixed(2)}x` : '-';
}

function optionalBytes(bytes: number | null): string {
  return bytes === null ? '-' : formatBytes(bytes);
}

/**
 * --target-bytes: the smallest sparsity (on a 1/1000 grid) whose predicted file size fits, from each
 * weight's dense/sparse storage sizes at the nnz the allocation gives. Predictions are exact up to a
 * few header bytes; the caller verifies the written size.
 */
function chooseSparsityForBytes(
  storageRules: { indices: SparseIndexMode; sparseAllowed: (weight: WeightRef) => boolean },
  selected: readonly Selected[],
  items: ReturnType<typeof Array.prototype.map>,
  options: PruneOptions,
  originalBytes: number,
): number {
  const target = options.targetBytes!;
  const denseNow = selected.map((s) => storageBytes(s.weight, s.weight.numel, storageRules).dense);
  const predict = (sparsity: number) => {
    const { zeros } = allocate(items as never, sparsity, options.allocation === 'spectral' ? 'uniform' : options.allocation, options.granularity, options.seed);
    let size = originalBytes;
    selected.forEach((s, i) => {
      const sizes = storageBytes(s.weight, s.weight.numel - zeros[i]!, storageRules);
      const chosen = options.storage === 'dense' || !storageRules.sparseAllowed(s.weight) ? sizes.dense : options.storage === 'sparse' ? sizes.sparse : Math.min(sizes.dense, sizes.sparse);
      size += chosen - denseNow[i]!;
    });
    return size;
  };
  if (predict(0) <= target) return 0;
  let lo = 0;
  let hi = 999;
  if (predict(hi / 1000) > target) {
    throw new UsageError(
      `--target-bytes ${target} cannot be met: even at 99.9% sparsity the model would be about ${predict(0.999)} bytes (the rest is not prunable weights; see \`specprune inspect\`).`,
    );
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
 * Before any work: the model is a regular file; -o and --report can be written (their folder exists and
 * takes new files, the target is no folder or device); and no file written (-o, its .data file,
 * --report) is a file read (the model, its external data, calibration samples, the budget file),
 * compared as files (real path, device and inode), not as strings. --in-place allows only -o and its
 * .data file over the model's own files. Returns the files read besides the model's own, which the
 * writer refuses to replace again at write time.
 */
function checkPruneFiles(args: PruneArgs, cwd: string): string[] {
  const input = path.resolve(cwd, args.model);
  const output = path.resolve(cwd, args.output);
  statRegularFile(input, { label: args.model, advice: 'check the path of the model' });
  const externalFiles = [...new Set(allTensors(readModelHollow(input).model).flatMap((t) => (t.external ? [t.external.path] : [])))];
  const modelFiles: Array<[string, string]> = [[input, `the input model ${args.model}`], ...externalFiles.map((f): [string, string] => [f, `the external data file ${f} of the input model`])];
  const otherInputs: Array<[string, string]> = [];
  if (args.calibration) {
    const dir = path.resolve(cwd, args.calibration);
    for (const name of listFolder(dir)) otherInputs.push([path.join(dir, name), `the calibration sample ${path.join(args.calibration, name)}`]);
  }
  if (args.budget) otherInputs.push([path.resolve(cwd, args.budget), `the budget file ${args.budget}`]);
  const outputs: Array<{ file: string; label: string; model: boolean }> = [
    { file: output, label: `-o ${args.output}`, model: true },
    { file: `${output}.data`, label: `-o ${args.output} (its external data file ${path.basename(output)}.data)`, model: true },
  ];
  if (args.report) outputs.push({ file: path.resolve(cwd, args.report), label: `--report ${args.report}`, model: false });
  // The .data file is written only for models with external data; it must not be a folder or a device either.
  for (const [i, { file, label }] of outputs.entries()) if (i !== 1 || existsSync(file)) checkWritableFile(file, label);
  for (const { file, label, model } of outputs) {
    for (const [read, what] of [...modelFiles, ...otherInputs]) {
      const ownFile = modelFiles.some(([f]) => f === read);
      if (model && ownFile && args.inPlace) continue;
      if (!isSameFile(file, read)) continue;
      const how = path.resolve(file) === path.resolve(read) ? '' : ' (the same file under another path)';
      const fix = model && ownFile ? 'choose another file, or add --in-place to overwrite the model' : 'choose another file';
      throw new UsageError(`${label} is ${what}${how}; writing it would destroy an input, so ${fix}.`);
    }
  }
  if (args.report && isSameFile(outputs[0]!.file, outputs[2]!.file)) throw new UsageError(`--report ${args.report} is the same file as -o ${args.output}; choose another file for the report.`);
  return otherInputs.map(([file]) => file);
}

function listFolder(dir: string): string[] {
  try {
    return statSync(dir).isDirectory() ? readdirSync(dir) : [];
  } catch {
    return [];
  }
}
