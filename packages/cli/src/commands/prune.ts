import path from 'node:path';
import { ALLOCATIONS, DEFAULT_CHANNEL_MULTIPLE, DEFAULT_SYNTHETIC_SAMPLES, METHODS, PruneOptionError, STORAGES, STRUCTURES, type PruneEstimate } from '@specprune/prune';
import { VALUE_FORMS } from '@specprune/onnx-io';
import { pruneFile, type PruneFileOptions, type PruneFileResult } from '../api/prune-files.js';
import { parseSize } from '../check/units.js';
import { preflightBudgets } from '../check/budget.js';
import { checkBudgets } from '../check/check-budgets.js';
import { renderCheckText, toCheckJson } from '../check/report.js';
import { defineCommand } from '../command.js';
import { UsageError } from '../errors.js';
import { parseShapes, parseValues } from '../eval/inputs.js';
import { log, printJson, throwIfInterrupted, type Io } from '../io.js';
import { createPhaseProgress, describeEstimate, logAboveBar } from '../progress.js';
import { renderPruneText } from '../report/prune-text.js';

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
  values?: string;
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
  threads?: number;
  structure?: string;
  flops?: number;
  channelMultiple?: number;
  speedup?: number;
}

export const pruneCommand = defineCommand<PruneArgs>({
  command: 'prune <model>',
  describe: 'Sparsify every weight while preserving its spectrum; write a smaller model',
  builder: (yargs) =>
    yargs
      .positional('model', { type: 'string', describe: 'ONNX model to prune (never modified unless --in-place)', demandOption: true })
      .option('output', { alias: 'o', type: 'string', describe: 'where to write the pruned model', requiresArg: true })
      .option('sparsity', { type: 'number', describe: 'target fraction of zeros over the selected weights, in [0, 1) (default 0.5; 0 with --structure)' })
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
      .option('storage', { type: 'string', choices: STORAGES as unknown as string[], default: 'auto', describe: 'dense, sparse (ONNX sparse_initializer with int64 indices, as the ONNX spec requires), bitmask (nonzero values + packed mask + a decode subgraph onnxruntime folds at load), or auto: per weight, whichever is smallest' })
      .option('values', { type: 'string', choices: VALUE_FORMS as unknown as string[], describe: 'precision of the kept values: float32 (the weight\'s own; the default), float16, or int8 with one scale per output channel; each weight keeps a higher precision where the lower one moves the outputs more than its pruning did. With --target-bytes and no --values, the precision is chosen with the sparsity (each tried, the closest outputs win)' })
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
      .option('threads', { type: 'number', describe: 'onnxruntime threads and workers for the per-weight work (default: every core); the result does not depend on it' })
      .option('structure', {
        type: 'string',
        choices: STRUCTURES as unknown as string[],
        describe: 'channels: remove whole output channels of Conv/ConvTranspose, neurons of Gemm/MatMul, hidden units of LSTM/GRU/RNN and attention heads with the matching inputs of every consumer, so the written model is a smaller dense model that runs faster (needs --flops or --speedup; channel groups that cannot be proven safe are left intact and reported)',
      })
      .option('flops', { type: 'number', describe: 'with --structure channels: fraction of multiply-adds to keep, in (0, 1]' })
      .option('speedup', {
        type: 'number',
        describe: 'with --structure channels, instead of --flops: make the p50 latency in onnxruntime-node (at --threads, timed at --shape when given, else on the first check input) at least X times lower than the original\'s; the multiply-add fraction is searched with measured latencies, exit 2 if even the smallest model is not that fast',
      })
      .option('channel-multiple', { type: 'number', describe: `with --structure channels: kept channel counts are multiples of N (default ${DEFAULT_CHANNEL_MULTIPLE}; 16 suits AVX-512 x86 servers); attention heads move one at a time` })
      .option('json', { type: 'boolean', describe: 'print one JSON document on stdout' })
      .example('$0 prune model.onnx -o model.pruned.onnx --shape x=1x3x224x224', '50% sparsity, spectral method and allocation (`specprune inspect` prints the --shape a model needs)')
      .example('$0 prune model.onnx -o small.onnx --shape x=1x3x224x224 --sparsity 0.7 --report report.html', 'with an HTML report')
      .example('$0 prune model.onnx -o small.onnx --shape x=1x3x224x224 --granularity 2:4 --method magnitude', 'N:M sparsity for sparse tensor cores')
      .example('$0 prune model.onnx -o small.onnx --shape x=1x3x224x224 --target-bytes 300000', 'prune until the file fits in 300 kB')
      .example('$0 prune vad.onnx -o vad.pruned.onnx --shape input=1x512 --value sr=16000', 'an audio model: a 512-sample frame, the sample rate a constant')
      .example('$0 prune model.onnx -o small.onnx --calibration samples/ --sparsity 0.5', 'data-aware: re-fit kept weights on your own sample inputs (they size the inputs)')
      .example('$0 prune model.onnx -o fast.onnx --shape x=1x3x224x224 --structure channels --flops 0.5', 'remove channels: half the multiply-adds, a smaller dense model')
      .example('$0 prune model.onnx -o fast.onnx --calibration samples/ --structure channels --speedup 1.5', 'remove channels until the measured p50 latency is 1.5x lower')
      .epilogue(
        'Progress goes to stderr: a bar per phase on a terminal, a line per finished phase with its time and the peak memory so far; a prune estimated to take 10 s or more says so about a second in, and again when a timed measurement of its scan changes the estimate by more than a quarter (--structure channels: once its first re-fit candidate is timed, and again as its search goes). Ctrl-C stops it without writing anything (exit 130).',
      ),
  run: async (args, io) => prune(args, io),
});

/** A flag's name for a library option (`minParams` -> `--min-params`), for messages. */
function flagOf(option: string): string {
  return `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** The flags as the library's options: parsed, with paths relative to where the user runs the command. */
function toOptions(args: PruneArgs, io: Io): PruneFileOptions {
  let calibrationMemory: number | undefined;
  if (args.calibrationMemory !== undefined) {
    try {
      calibrationMemory = parseSize(/^\d+$/.test(String(args.calibrationMemory)) ? Number(args.calibrationMemory) : args.calibrationMemory);
    } catch {
      throw new UsageError(`--calibration-memory ${args.calibrationMemory} is not a size; write e.g. --calibration-memory 512MB or 2GiB.`);
    }
  }
  const defined = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
  return defined({
    output: args.output,
    report: args.report,
    calibration: args.calibration,
    inPlace: args.inPlace,
    sizes: args.sizes,
    stream: args.stream,
    cwd: io.cwd,
    label: args.model,
    sparsity: args.sparsity,
    method: args.method,
    granularity: args.granularity,
    allocation: args.allocation,
    targetBytes: args.targetBytes,
    exclude: args.exclude,
    minParams: args.minParams,
    storage: args.storage,
    values: args.values,
    ortOnlySparseIndices: args.ortOnlySparseIndices,
    seed: args.seed,
    calibrationSamples: args.calibrationSamples,
    calibrationMemory,
    syntheticSamples: args.syntheticSamples,
    methodBasis: args.methodBasis,
    spectralError: args.spectralError,
    shape: args.shape ? parseShapes(args.shape) : undefined,
    value: args.value ? parseValues(args.value) : undefined,
    scanSamples: args.scanSamples,
    threads: args.threads,
    structure: args.structure,
    flops: args.flops,
    channelMultiple: args.channelMultiple,
    speedup: args.speedup,
  });
}

async function prune(args: PruneArgs, io: Io): Promise<number> {
  if (!args.output) throw new UsageError('prune needs an output file: add -o OUT.onnx (the input is never overwritten unless --in-place).');
  const options = toOptions(args, io);
  // A broken budget file is found before minutes of pruning, not after.
  const budget = args.budget;
  let result: PruneFileResult;
  let estimated: PruneEstimate | undefined;
  try {
    result = await pruneFile(args.model, {
      ...options,
      ...(budget ? { protect: [{ file: budget, label: `the budget file ${budget}` }], beforeWork: () => preflightBudgets(io.cwd, budget, [path.resolve(io.cwd, args.output)]) } : {}),
      // Lines come during phases too (the estimate during the statistics): above the bar, not after it.
      onLog: (message) => logAboveBar(io, `specprune: ${message}`),
      onProgress: createPhaseProgress(io, () => estimated),
      onEstimate: (estimate) => {
        estimated = estimate;
        const line = describeEstimate(estimate);
        if (line) logAboveBar(io, `specprune: ${line}`);
      },
      ...(io.signal ? { signal: io.signal } : {}),
    });
  } catch (error) {
    throwIfInterrupted(io);
    if (error instanceof PruneOptionError) throw new UsageError(error.render(flagOf));
    throw error;
  }
  const report = result.report;
  if (args.json) {
    if (args.budget) {
      // One JSON document: the budget results go inside the prune report.
      const checked = await checkBudgets(args.budget, budgetCheckOptions(io));
      printJson(io, { ...report, budget: toCheckJson(checked) });
      return checked.passed ? 0 : 1;
    }
    printJson(io, report);
    return 0;
  }
  io.stdout.write(renderPruneText(result, { output: args.output, ...(args.report ? { report: args.report } : {}) }));
  if (args.budget) {
    const checked = await checkBudgets(args.budget, budgetCheckOptions(io));
    io.stdout.write(`\n${renderCheckText(checked, { colour: !!io.stdout.isTTY, githubAnnotations: io.env.GITHUB_ACTIONS === 'true' })}`);
    return checked.passed ? 0 : 1;
  }
  return 0;
}

/** `--budget` is checked as `specprune check` checks it: relative to where the user runs the command, logs on stderr. */
function budgetCheckOptions(io: Io): Parameters<typeof checkBudgets>[1] {
  return { cwd: io.cwd, onLog: (message) => log(io, `specprune: ${message}`), ...(io.signal ? { signal: io.signal } : {}) };
}


