import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import {
  allTensors,
  checkWritableFile,
  commitStaged,
  isSameFile,
  measureSizes,
  parseModel,
  readModel,
  readModelHollow,
  stageModel,
  stageTempFile,
  statRegularFile,
  tempPathFor,
  type OnnxModel,
  type StagedWrite,
} from '@specprune/onnx-io/node';
import { prune as prunePipeline, PruneOptionError, resolvePruneOptions, type Feeds, type PruneContext, type PruneEstimate, type PruneOptions, type PruneProgress, type PruneReport, type WeightDetail } from '@specprune/prune';
import { UsageError } from '../errors.js';
import { createSession, loadOrt } from '../eval/inputs.js';
import { loadSampleFeeds, sampleInputs, sampleRunError } from '../eval/samples.js';
import { stageHtmlReport } from '../report/html.js';
import { VERSION } from '../version.js';
import { pruneStreaming } from './stream.js';
import { createWeightWorkers, isThreadCount, MAX_THREADS } from './weight-workers.js';
import { referenceOnFile, verifyFile } from './verify-file.js';

/** `prune` for Node: the pipeline's options plus where the files are (CLI.md "Library API"). */
export interface PruneFileOptions extends PruneOptions {
  /** Write the pruned model here, atomically (a temporary file renamed into place when complete). */
  output?: string;
  /** Also write a self-contained HTML report here (needs `output`). */
  report?: string;
  /** A folder of .npy samples (the --calibration format), or samples already loaded. */
  calibration?: string | readonly Feeds[];
  /** Allow `output` to name the input model. */
  inPlace?: boolean;
  /** Measure gzip/brotli sizes (default true). */
  sizes?: boolean;
  /** Allow the streaming path for large models (default true). */
  stream?: boolean;
  /** Folder relative paths are resolved against (default process.cwd()). */
  cwd?: string;
  /** The model's name in messages (default: the path as given). */
  label?: string;
  /** Files the caller also reads (a budget file, say), which no output may replace; a label names them in messages. */
  protect?: ReadonlyArray<string | { file: string; label: string }>;
  /** Called after the files are checked and before any work (e.g. to validate a budget file the caller will use). */
  beforeWork?: () => void | Promise<void>;
  onProgress?: (progress: PruneProgress) => void;
  onLog?: (message: string) => void;
  /** How long the prune will take, estimated near its start (prunes that measure in the runtime), and again with `revised` set where the scan's timed measurement moves it by more than a quarter (`--structure channels`: once its first re-fit candidate is timed, by its own `phases`, revised as its search goes). */
  onEstimate?: (estimate: PruneEstimate) => void;
  signal?: AbortSignal;
  /** onnxruntime intra-op threads for the measurements (default: every core). The result does not depend on it. */
  threads?: number;
}

type Sizes = { bytes: number; gzipBytes: number | null; brotliBytes: number | null };

/** The document `prune --json` prints. */
export interface PruneFileReport extends PruneReport {
  input: { path: string } & Sizes;
  output: { path: string | null; externalData?: { path: string; bytes: number } } & Sizes;
}

export interface PruneFileResult {
  /** The pruned model as one buffer (external data inlined); serialised on first access. */
  readonly model: Uint8Array;
  readonly report: PruneFileReport;
  /** Per weight details for rendering (values only with a report). */
  readonly details: WeightDetail[];
}

/**
 * Prunes an ONNX model given as bytes or as a file path (external data is read from beside it) with
 * onnxruntime-node, and, when `output` is given, writes the result atomically (with its external data
 * and an HTML report) after checking that no file written is a file read. Resolves to the pruned bytes
 * and the report `prune --json` prints.
 */
export async function pruneFile(model: Uint8Array | string, options: PruneFileOptions = {}): Promise<PruneFileResult> {
  const cwd = options.cwd ?? process.cwd();
  const input = typeof model === 'string' ? path.resolve(cwd, model) : undefined;
  const label = options.label ?? (typeof model === 'string' ? model : 'the model');
  const output = options.output === undefined ? undefined : path.resolve(cwd, options.output);
  const reportFile = options.report === undefined ? undefined : path.resolve(cwd, options.report);
  if (reportFile && !output) throw new UsageError('a report needs an output file: give output as well.');
  if (options.report && !options.report.endsWith('.html')) throw new UsageError(`--report ${options.report} must name an .html file.`);
  const calibrationDir = typeof options.calibration === 'string' ? path.resolve(cwd, options.calibration) : undefined;
  const hasCalibration = options.calibration !== undefined;
  // Every option and rule is checked before any file is touched.
  const resolved = resolvePruneOptions(options, hasCalibration);
  if (options.threads !== undefined && !isThreadCount(options.threads)) {
    throw new PruneOptionError('threads', (n) => `${n('threads')} ${options.threads} must be a whole number from 1 to ${MAX_THREADS}.`);
  }
  const given = (options.protect ?? []).map((p) => (typeof p === 'string' ? { file: path.resolve(cwd, p), label: `the file ${p}` } : { file: path.resolve(cwd, p.file), label: p.label }));
  const protect: string[] = given.map((p) => p.file);
  if (output) protect.push(...checkPruneFiles({ input, label, output, outputLabel: options.output!, report: reportFile, reportLabel: options.report, calibrationDir, calibrationLabel: typeof options.calibration === 'string' ? options.calibration : undefined, protect: given, inPlace: !!options.inPlace }));
  else if (input) statRegularFile(input, { label, advice: 'check the path of the model' });
  // (A model given as bytes has no files of its own, but the output still must not replace a sample or a protected file.)
  await options.beforeWork?.();

  const measure = async (file: string, signal?: AbortSignal): Promise<Sizes> => (options.sizes === false ? { bytes: statSync(file).size, gzipBytes: null, brotliBytes: null } : measureSizes(file, { signal }));
  const measureBytes = (bytes: Uint8Array): Sizes => ({ bytes: bytes.byteLength, gzipBytes: null, brotliBytes: null });
  // The input's sizes are compressed on worker threads while the pruning works (gzip and brotli of a 200 MB
  // model take about 8 s of CPU on this project's 2-core machine); awaited where the report needs them.
  // Stopped in `finally` when the run ends without needing them (an error, an interrupt).
  const sizing = new AbortController();
  const beforeSizes: Promise<Sizes> = input ? measure(input, sizing.signal) : Promise.resolve(measureBytes(model as Uint8Array));
  beforeSizes.catch(() => undefined);
  const provenance: Record<string, string> = {
    'specprune.tool': 'specprune',
    'specprune.version': VERSION,
    'specprune.options': JSON.stringify({
      sparsity: resolved.targetBytes !== undefined ? undefined : resolved.sparsity,
      targetBytes: resolved.targetBytes,
      method: resolved.method,
      granularity: resolved.granularityText,
      allocation: resolved.allocation,
      exclude: resolved.exclude.map((r) => r.source),
      minParams: resolved.minParams,
      storage: resolved.storage,
      values: resolved.values === 'float32' ? undefined : resolved.values,
      seed: resolved.seed,
      structure: resolved.structure,
    }),
  };
  const pending: StagedWrite[] = [];
  try {
    // Large models in the simplest configuration stream weight by weight into the output (byte-identical
    // result, never the whole model in memory).
    const streamable =
      input && output && !reportFile && resolved.method === 'magnitude' && resolved.granularity.kind === 'unstructured' && !resolved.spectralError && resolved.allocation === 'uniform' && resolved.targetBytes === undefined && !resolved.structure && resolved.values === 'float32' && options.stream !== false;
    if (streamable) {
      // The original's outputs are taken before anything is written (in place replaces the input).
      const reference = await referenceOnFile(input, label, resolved);
      const temp = tempPathFor(output);
      const streamed = pruneStreaming(input, temp, { sparsity: resolved.sparsity, minParams: resolved.minParams, exclude: resolved.exclude, storage: resolved.storage, metadata: provenance, indices: resolved.indices });
      if (streamed) {
        options.onLog?.(`streamed ${streamed.pruned.length} of ${streamed.all.length} weights of ${label} to ${(resolved.sparsity * 100).toFixed(1)}% (magnitude, uniform allocation, dense storage)`);
        const staged = stageTempFile(temp, output);
        pending.push(staged);
        const warnings: string[] = [];
        const fidelity = await verifyFile(staged.loadable!.model, options.output!, reference);
        if (!fidelity.measured) warnings.push(`output fidelity was not measured: ${fidelity.reason}`);
        for (const w of warnings) options.onLog?.(`warning: ${w}`);
        const after = await measure(staged.tempPath);
        const totalNumel = streamed.pruned.reduce((s, p) => s + p.weight.numel, 0);
        const totalNnz = streamed.pruned.reduce((s, p) => s + p.nnz, 0);
        const details: WeightDetail[] = streamed.pruned.map(({ weight, nnz, frobeniusError }) => ({
          name: weight.name,
          graph: weight.graph,
          shape: weight.shape,
          sparsity: weight.numel ? 1 - nnz / weight.numel : 0,
          method: 'magnitude',
          spectralError: null,
          frobeniusError,
          storage: 'dense',
          values: 'float32',
          numel: weight.numel,
          nnz,
          view: { description: '', blocks: [] } as unknown as WeightDetail['view'],
        }));
        const report: PruneFileReport = {
          input: { path: label, ...(await beforeSizes) },
          output: { path: options.output!, ...after },
          sparsity: totalNumel ? 1 - totalNnz / totalNumel : 0,
          targetSparsity: resolved.sparsity,
          method: resolved.method,
          allocation: resolved.allocation,
          granularity: resolved.granularityText,
          seed: resolved.seed,
          nnz: streamed.modelNnz,
          params: streamed.all.reduce((s, w) => s + w.numel, 0),
          weights: details.map(({ numel: _n, nnz: _z, view: _v, ...rest }) => rest),
          skipped: streamed.skipped.map(({ weight, reason }) => ({ name: weight.name, graph: weight.graph, numel: weight.numel, reason })),
          fidelity,
          warnings,
          timings: {},
        };
        await beforeCommit(options.signal);
        commitStaged([...pending].reverse());
        pending.length = 0;
        return { get model() { return new Uint8Array(readFileSync(output)); }, report, details };
      }
    }

    const ort = await loadOrt();
    const onnx = input ? readModel(input, { label }) : parseModel(model as Uint8Array, { label });
    let calibration: readonly Feeds[] | undefined;
    if (calibrationDir) {
      // Samples are checked against the model's declared inputs (names, dtypes, ranks, fixed dims).
      const session = await createSession(ort, input ?? (model as Uint8Array), label);
      try {
        calibration = loadSampleFeeds(ort, calibrationDir, sampleInputs(session), '--calibration') as unknown as Feeds[];
      } finally {
        await session.release();
      }
    } else if (Array.isArray(options.calibration)) calibration = options.calibration as readonly Feeds[];
    const threads = options.threads ?? availableParallelism();
    const context: PruneContext = {
      runtime: ort as unknown as PruneContext['runtime'],
      label,
      metadata: provenance,
      keepMatrices: !!reportFile,
      threads,
      explainRunError: (error, feeds, index) => sampleRunError(error, feeds as never, index, label),
      ...(calibration ? { calibration } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.onLog ? { onLog: options.onLog } : {}),
      ...(options.onEstimate ? { onEstimate: options.onEstimate } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    };
    const workers = createWeightWorkers(threads);
    // The pruned model is written to its temporary file, and measured there, while the pipeline checks it
    // (its session creation holds one thread for seconds on large models); renamed into place only at the end.
    let early: { model: OnnxModel; staged: StagedWrite; sizes: Promise<Sizes> } | undefined;
    const onPruned = (pruned: OnnxModel) => {
      if (!output || early) return;
      const staged = stageModel(pruned, output, { overwriteInput: !!options.inPlace, protect });
      pending.push(staged);
      const sizes = measure(staged.tempPath, sizing.signal);
      sizes.catch(() => undefined);
      early = { model: pruned, staged, sizes };
    };
    let result;
    try {
      result = await prunePipeline(onnx, options, { ...context, workers, onPruned });
    } finally {
      await workers.close();
    }
    const warnings = result.report.warnings;
    let outputSection: PruneFileReport['output'];
    if (output) {
      if (early && early.model !== result.onnx) throw new Error('the pruned model handed over for writing is not the one the prune returned');
      if (!early) onPruned(result.onnx);
      const { staged, sizes } = early!;
      // The pipeline checked the bytes it produced; a model written with external data is loaded from
      // its files once more, as a user's runtime will.
      if (staged.loadable?.data) await verifyFile(staged.loadable.model, options.output!, { reason: 'checked from memory', originalLoads: true });
      const after = await sizes;
      outputSection = { path: options.output!, ...after, ...(staged.result.externalData ? { externalData: staged.result.externalData } : {}) };
    } else outputSection = { path: null, ...measureBytes(result.model) };
    const report: PruneFileReport = { input: { path: label, ...(await beforeSizes) }, output: outputSection, ...result.report, warnings };
    if (reportFile) {
      pending.push(
        stageHtmlReport(reportFile, {
          title: `specprune report: ${path.basename(label)}`,
          input: report.input,
          output: { ...report.output, path: report.output.path ?? '' },
          sparsity: report.sparsity,
          method: report.method,
          allocation: report.allocation,
          granularity: report.granularity,
          weights: result.details.map((d) => ({ ...d, view: d.view.description, matrixView: d.view, original: d.original ?? new Float32Array(0), pruned: d.pruned ?? new Float32Array(0) })),
          fidelity: report.fidelity,
          decisions: [
            ...(report.allocationBasis ? [['allocation measured by', report.allocationBasis] as [string, string]] : []),
            ...(report.methodBasis ? [['method chosen by', report.methodBasis === 'output' ? 'output distortion on random inputs' : 'spectral error'] as [string, string]] : []),
            ...(report.calibration ? [['input statistics from', `${report.calibration.samples} ${report.calibration.source} sample(s)`] as [string, string]] : []),
          ],
          warnings,
        }),
      );
    }
    // Nothing is in place until everything is complete and the run was not interrupted; the report goes
    // first, so a failed rename leaves no model without its report.
    await beforeCommit(options.signal);
    commitStaged([...pending].reverse());
    pending.length = 0;
    return { get model() { return result.model; }, report, details: result.details };
  } finally {
    sizing.abort();
    for (const staged of pending) staged.discard();
  }
}

/** Lets a pending signal be delivered, then stops if the run was aborted: right before renaming into place. */
async function beforeCommit(signal: AbortSignal | undefined): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
}

/**
 * Before any work: the model is a regular file; the output and the report can be written (their folder
 * exists and takes new files, the target is no folder or device); and no file written (the output, its
 * .data file, the report) is a file read (the model, its external data, calibration samples, protected
 * files), compared as files (real path, device and inode), not as strings. In place allows only the
 * output and its .data file over the model's own files. Returns the files read besides the model's own,
 * which the writer refuses to replace again at write time.
 */
function checkPruneFiles(f: {
  input: string | undefined;
  label: string;
  output: string;
  outputLabel: string;
  report: string | undefined;
  reportLabel: string | undefined;
  calibrationDir: string | undefined;
  calibrationLabel: string | undefined;
  protect: ReadonlyArray<{ file: string; label: string }>;
  inPlace: boolean;
}): string[] {
  const modelFiles: Array<[string, string]> = [];
  if (f.input) {
    statRegularFile(f.input, { label: f.label, advice: 'check the path of the model' });
    const externalFiles = [...new Set(allTensors(readModelHollow(f.input).model).flatMap((t) => (t.external ? [t.external.path] : [])))];
    modelFiles.push([f.input, `the input model ${f.label}`], ...externalFiles.map((file): [string, string] => [file, `the external data file ${file} of the input model`]));
  }
  const otherInputs: Array<[string, string]> = [];
  if (f.calibrationDir) {
    for (const name of listFolder(f.calibrationDir)) otherInputs.push([path.join(f.calibrationDir, name), `the calibration sample ${path.join(f.calibrationLabel ?? f.calibrationDir, name)}`]);
  }
  for (const { file, label } of f.protect) otherInputs.push([file, label]);
  const outputs: Array<{ file: string; label: string; model: boolean }> = [
    { file: f.output, label: `-o ${f.outputLabel}`, model: true },
    { file: `${f.output}.data`, label: `-o ${f.outputLabel} (its external data file ${path.basename(f.output)}.data)`, model: true },
  ];
  if (f.report) outputs.push({ file: f.report, label: `--report ${f.reportLabel}`, model: false });
  // The .data file is written only for models with external data; it must not be a folder or a device either.
  for (const [i, { file, label }] of outputs.entries()) if (i !== 1 || existsSync(file)) checkWritableFile(file, label);
  for (const { file, label, model } of outputs) {
    for (const [read, what] of [...modelFiles, ...otherInputs]) {
      const ownFile = modelFiles.some(([m]) => m === read);
      if (model && ownFile && f.inPlace) continue;
      if (!isSameFile(file, read)) continue;
      const how = path.resolve(file) === path.resolve(read) ? '' : ' (the same file under another path)';
      const fix = model && ownFile ? 'choose another file, or add --in-place to overwrite the model' : 'choose another file';
      throw new UsageError(`${label} is ${what}${how}; writing it would destroy an input, so ${fix}.`);
    }
  }
  if (f.report && isSameFile(outputs[0]!.file, outputs[2]!.file)) throw new UsageError(`--report ${f.reportLabel} is the same file as -o ${f.outputLabel}; choose another file for the report.`);
  return otherInputs.map(([file]) => file);
}

function listFolder(dir: string): string[] {
  try {
    return statSync(dir).isDirectory() ? readdirSync(dir) : [];
  } catch {
    return [];
  }
}
