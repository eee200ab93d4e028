import { statSync } from 'node:fs';
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
  setMetadata,
  storageBytes,
  updateWeight,
  writeModel,
  type WeightRef,
} from '@specprune/onnx-io';
import { defineCommand } from '../command.js';
import { isUserError, UsageError } from '../errors.js';
import { formatBytes, formatCount, formatPercent, renderTable } from '../format.js';
import { log, printJson, type Io } from '../io.js';
import { createProgress } from '../progress.js';
import { allocate, CURVE_GRID, spectralErrorCurves } from '../prune/allocate.js';
import { scanSensitivity, SCAN_GRID } from '../prune/sensitivity.js';
import { parseShapes, parseValues } from '../eval/inputs.js';
import { pruneMagnitudeInPlace, pruneWeight } from '../prune/engine.js';
import { pruneStreaming } from '../prune/stream.js';
import { ALLOCATIONS, METHODS, parsePruneOptions, STORAGES, type PruneOptions } from '../prune/options.js';
import { writeHtmlReport, type ReportWeight } from '../report/html.js';
import { VERSION } from '../version.js';
import { check } from './check.js';
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
}

export const pruneCommand = defineCommand<PruneArgs>({
  command: 'prune <model>',
  describe: 'Sparsify every weight while preserving its spectrum; write a smaller model',
  builder: (yargs) =>
    yargs
      .positional('model', { type: 'string', describe: 'ONNX model to prune (never modified unless --in-place)', demandOption: true })
      .option('output', { alias: 'o', type: 'string', describe: 'where to write the pruned model', requiresArg: true })
      .option('sparsity', { type: 'number', describe: 'target fraction of zeros over the selected weights, in [0, 1)', default: 0.5 })
      .option('method', { type: 'string', choices: METHODS as unknown as string[], default: 'spectral', describe: 'sparsifier (spectral: per weight, the candidate with the lowest measured spectral error)' })
      .option('granularity', { type: 'string', default: 'unstructured', describe: 'unstructured, N:M (e.g. 2:4, along the input dimension) or block:RxC' })
      .option('allocation', { type: 'string', choices: ALLOCATIONS as unknown as string[], default: 'spectral', describe: 'how the sparsity budget is split across weights' })
      .option('target-bytes', { type: 'number', describe: 'instead of --sparsity: prune until the written model is at most N bytes' })
      .option('exclude', { type: 'string', array: true, describe: 'leave weights whose name matches this regular expression untouched (repeatable)' })
      .option('min-params', { type: 'number', default: 256, describe: 'leave weights with fewer elements untouched' })
      .option('storage', { type: 'string', choices: STORAGES as unknown as string[], default: 'auto', describe: 'dense, sparse (ONNX sparse_initializer), or auto: per weight, whichever is smaller' })
      .option('calibration', {
        type: 'string',
        describe: 'folder of .npy sample inputs (one per sample, or INPUTNAME.K.npy): the sensitivity scan measures output distortion on them instead of random inputs (activation-aware re-fitting is not in this version)',
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
      .option('scan-samples', { type: 'number', describe: 'inputs per sensitivity measurement (default 4 random, or up to 16 calibration samples)' })
      .option('json', { type: 'boolean', describe: 'print one JSON document on stdout' })
      .example('$0 prune model.onnx -o model.pruned.onnx', '50% sparsity, spectral method and allocation')
      .example('$0 prune model.onnx -o small.onnx --sparsity 0.7 --report report.html', 'with an HTML report')
      .example('$0 prune model.onnx -o small.onnx --granularity 2:4 --method magnitude', 'N:M sparsity for sparse tensor cores')
      .example('$0 prune model.onnx -o small.onnx --target-bytes 300000', 'prune until the file fits in 300 kB'),
  run: async (args, io) => prune(args, io),
});

interface Selected {
  weight: WeightRef;
  key: string;
  /** Loaded up front only when the allocation needs every weight's values; else read one at a time. */
  values?: Float32Array;
}

async function prune(args: PruneArgs, io: Io): Promise<number> {
  if (!args.output) throw new UsageError('prune needs an output file: add -o OUT.onnx (the input is never overwritten unless --in-place).');
  const options = parsePruneOptions(args);
  if (options.calibration !== undefined && options.allocation !== 'spectral') {
    throw new UsageError(
      `--calibration feeds the sensitivity scan of --allocation spectral; with --allocation ${options.allocation} it would be ignored. Drop one of them.`,
    );
  }
  const input = path.resolve(io.cwd, args.model);
  const output = path.resolve(io.cwd, args.output);
  if (input === output && !args.inPlace) throw new UsageError(`-o ${args.output} is the input model; choose another file, or add --in-place to overwrite it.`);
  if (args.report && !args.report.endsWith('.html')) throw new UsageError(`--report ${args.report} must name an .html file.`);
  try {
    if (statSync(path.dirname(output)).isDirectory() === false) throw new Error();
  } catch {
    throw new UsageError(`-o ${args.output}: folder ${path.dirname(output)} does not exist; create it first.`);
  }

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
  const streamed = streamable
    ? pruneStreaming(input, output, { sparsity: options.sparsity, minParams: options.minParams, exclude: options.exclude, storage: options.storage, metadata: provenance })
    : undefined;
  let results: ReportWeight[];
  let skipped: Array<{ weight: WeightRef; reason: string }>;
  let all: WeightRef[];
  let written: { externalData?: { path: string; bytes: number } };
  let modelNnz: number;
  let sparsity = options.sparsity;
  let allocationBasis: string | undefined;
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
    sparsity = options.targetBytes !== undefined ? chooseSparsityForBytes(model, selected, items, options, before.bytes) : options.sparsity;
    log(io, `specprune: pruning ${selected.length} of ${all.length} weights of ${args.model} to ${formatPercent(sparsity)} (${options.method}, ${options.allocation} allocation)`);
    let measured: { grid: readonly number[]; curves: number[][] } | undefined;
      if (options.allocation === 'spectral' && options.granularity.kind !== 'nm' && selected.length > 1) {
      const scanProgress = createProgress(io, 'sensitivity scan', selected.length * (SCAN_GRID.length - 1));
      try {
        const curves = await scanSensitivity(model.bytes, args.model, items, {
          shapes: parseShapes(args.shape),
          values: parseValues(args.value),
          samples: args.scanSamples ?? (options.calibration ? 16 : 4),
          seed: options.seed,
          ...(options.calibration ? { calibration: path.resolve(io.cwd, options.calibration) } : {}),
          granularity: options.granularity,
          onProgress: () => scanProgress.tick(),
        });
        measured = { grid: SCAN_GRID, curves };
        allocationBasis = options.calibration ? 'sensitivity-scan (calibration samples)' : 'sensitivity-scan';
      } catch (error) {
        // Bad calibration data is the user's to fix, not a reason to fall back silently.
        if (!isUserError(error) || options.calibration) throw error;
        allocationBasis = 'spectral-error';
        log(io, `specprune: sensitivity scan skipped (${error.message.replace(/\.$/, '')}); allocating by each weight's spectral error instead.`);
      } finally {
        scanProgress.done();
      }
    }
    const allocation = allocate(items, sparsity, options.allocation, options.granularity, options.seed, measured);
    if (allocation.blind?.length) {
      log(
        io,
        `specprune: ${allocation.blind.length} weight(s) did not affect the outputs on the scan inputs (a branch those inputs do not take?) and get the target sparsity: ${allocation.blind.slice(0, 4).join(', ')}${allocation.blind.length > 4 ? ', ...' : ''}. Give --shape/--value for the inputs you ship with.`,
      );
    }

    if (args.report && !allocation.curves && selected.length) {
      // The report plots error against sparsity for every weight, whatever the allocation.
      const curveItems = items.map((item, idx) => ({ ...item, values: item.values ?? readWeight(model, selected[idx]!.weight) }));
      allocation.curves = spectralErrorCurves(curveItems, options.granularity, options.seed);
      allocation.grid = CURVE_GRID;
    }
    const progress = createProgress(io, 'pruning', selected.length);
    results = [];
    const keepArrays = Boolean(args.report);
    // Fast path for huge models: unstructured magnitude without spectral measurement prunes each weight's
    // bytes in place (no copy); the result is identical to the general path's.
    const inPlace = options.method === 'magnitude' && options.granularity.kind === 'unstructured' && args.spectralError === false && !keepArrays;
    // One scratch buffer for weights that cannot be viewed in place, so garbage does not pile up.
    const scratch = { buffer: new Float32Array(0) };
    selected.forEach((s, idx) => {
      const fast = inPlace && items[idx]!.view.blocks.length === 1;
      // Aligned raw float32 data is pruned where it lies; anything else through one decoded copy.
      const view = fast ? (denseFloat32View(model, s.weight) ?? s.values ?? readWeightReusing(model, s.weight, scratch)) : undefined;
      const original = view ?? s.values ?? readWeight(model, s.weight);
      s.values = undefined;
      const result = view
        ? { ...pruneMagnitudeInPlace(view, allocation.zeros[idx]!), values: view, method: 'magnitude', spectralError: Number.NaN }
        : pruneWeight(original, items[idx]!.view, allocation.zeros[idx]!, options.method, options.granularity, options.seed, s.key, {
            measureSpectralError: args.spectralError !== false,
          });
      const sparsityOf = s.weight.numel ? 1 - result.nnz / s.weight.numel : 0;
      const sizes = storageBytes(s.weight, result.nnz);
      const storage = options.storage === 'auto' ? (sizes.sparse < sizes.dense ? 'sparse' : 'dense') : options.storage;
      updateWeight(model, s.weight, result.values, storage);
      results.push({
        name: s.weight.name,
        graph: s.weight.graph,
        shape: s.weight.shape,
        numel: s.weight.numel,
        nnz: result.nnz,
        sparsity: sparsityOf,
        method: result.method,
        spectralError: args.spectralError === false ? null : result.spectralError,
        frobeniusError: result.frobeniusError,
        storage,
        view: items[idx]!.view.description,
        matrixView: items[idx]!.view,
        ...(allocation.curves ? { curve: allocation.grid!.map((g, k) => [g, allocation.curves![idx]![k]!] as [number, number]), curveLabel: allocationBasis?.startsWith('sensitivity-scan') ? 'output distortion' : 'spectral error' } : {}),
        // Kept only for the HTML report, so large models are pruned one weight at a time.
        original: keepArrays ? original : new Float32Array(0),
        pruned: keepArrays ? result.values : new Float32Array(0),
      });
      progress.tick(s.weight.name);
    });
    progress.done();

    setMetadata(model, provenance);
    written = writeModel(model, output);
    const totalNnz = results.reduce((s, r) => s + r.nnz, 0);
    const selectedSet = new Set(selected.map((x) => x.weight));
    modelNnz = all.reduce((s, w) => s + (selectedSet.has(w) ? 0 : countNonzero(model, w)), 0) + totalNnz;
  }
  const after = await measureSizesOf(output);
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
    granularity: options.granularityText,
    seed: options.seed,
    nnz: modelNnz,
    params: all.reduce((s, w) => s + w.numel, 0),
    weights: results.map(({ original: _o, pruned: _p, curve: _c, curveLabel: _l, view: _v, matrixView: _m, numel: _n, nnz: _z, ...rest }) => rest),
    skipped: skipped.map(({ weight, reason }) => ({ name: weight.name, graph: weight.graph, numel: weight.numel, reason })),
  };
  if (args.report) {
    writeHtmlReport(path.resolve(io.cwd, args.report), {
      title: `specprune report: ${path.basename(args.model)}`,
      input: report.input,
      output: report.output,
      sparsity: achieved,
      method: options.method,
      allocation: options.allocation,
      granularity: options.granularityText,
      weights: results,
    });
  }
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
  if (args.budget) {
    io.stdout.write('\n');
    return check({ budget: args.budget }, io, benchForBudget);
  }
  return 0;
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
  _model: unknown,
  selected: readonly Selected[],
  items: ReturnType<typeof Array.prototype.map>,
  options: PruneOptions,
  originalBytes: number,
): number {
  const target = options.targetBytes!;
  const denseNow = selected.map((s) => storageBytes(s.weight, s.weight.numel).dense);
  const predict = (sparsity: number) => {
    const { zeros } = allocate(items as never, sparsity, options.allocation === 'spectral' ? 'uniform' : options.allocation, options.granularity, options.seed);
    let size = originalBytes;
    selected.forEach((s, i) => {
      const sizes = storageBytes(s.weight, s.weight.numel - zeros[i]!);
      const chosen = options.storage === 'dense' ? sizes.dense : options.storage === 'sparse' ? sizes.sparse : Math.min(sizes.dense, sizes.sparse);
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
