import { availableParallelism } from 'node:os';
import path from 'node:path';
import { doWeightWork, type WeightSpectrum, type WeightWork } from '@specprune/prune';
import { findWeights, matrixView, readModel, readWeight, type WeightRef } from '@specprune/onnx-io/node';
import { createWeightWorkers, isThreadCount, MAX_THREADS } from '../api/weight-workers.js';
import { defineCommand } from '../command.js';
import { UsageError } from '../errors.js';
import { renderTable } from '../format.js';
import { log, printJson, type Io } from '../io.js';
import { createProgress } from '../progress.js';

interface SpectrumArgs {
  original: string;
  pruned: string;
  top?: number;
  threads?: number;
  json?: boolean;
}

export const spectrumCommand = defineCommand<SpectrumArgs>({
  command: 'spectrum <original> <pruned>',
  describe: 'Per weight: top-K singular values of both models, relative spectral and Frobenius error',
  builder: (yargs) =>
    yargs
      .positional('original', { type: 'string', describe: 'reference model', demandOption: true })
      .positional('pruned', { type: 'string', describe: 'pruned model', demandOption: true })
      .option('top', { type: 'number', default: 8, describe: 'number of singular values (K) per weight' })
      .option('threads', { type: 'number', describe: 'worker threads for the weights (default: every core); the result does not depend on it' })
      .option('json', { type: 'boolean', describe: 'print one JSON document on stdout' })
      .example('$0 spectrum model.onnx model.pruned.onnx --top 16', 'how much of each spectrum survived'),
  run: async (args, io) => spectrum(args, io),
});

async function spectrum(args: SpectrumArgs, io: Io): Promise<number> {
  const k = args.top ?? 8;
  if (!Number.isInteger(k) || k < 1) throw new UsageError(`--top ${args.top} must be a whole number >= 1.`);
  if (args.threads !== undefined && !isThreadCount(args.threads)) throw new UsageError(`--threads ${args.threads} must be a whole number from 1 to ${MAX_THREADS}.`);
  const original = readModel(path.resolve(io.cwd, args.original), { label: args.original });
  const pruned = readModel(path.resolve(io.cwd, args.pruned), { label: args.pruned });
  const key = (w: WeightRef) => `${w.graph}\0${w.name}`;
  const prunedWeights = new Map(findWeights(pruned).map((w) => [key(w), w]));
  const weights = findWeights(original);
  const missing = weights.filter((w) => !prunedWeights.has(key(w)));
  if (missing.length === weights.length && weights.length > 0) {
    throw new UsageError(`${args.pruned} has none of the weights of ${args.original}; compare a model with its own pruned version.`);
  }
  for (const w of missing) log(io, `specprune: ${w.name} (${w.graph}) is not in ${args.pruned}; skipped.`);
  const progress = createProgress(io, 'spectrum', weights.length);
  const work: Array<{ w: WeightRef; other: WeightRef }> = [];
  for (const w of weights) {
    const other = prunedWeights.get(key(w));
    if (!other) continue;
    if (w.numel === 0) {
      // A zero-sized weight (a dim of 0) has no spectrum; nothing to compare.
      log(io, `specprune: ${w.name} (${w.graph}) has shape [${w.shape}] with no elements; skipped.`);
      progress.tick(w.name);
      continue;
    }
    if (other.shape.join('x') !== w.shape.join('x')) throw new UsageError(`${w.name} has shape [${w.shape}] in ${args.original} but [${other.shape}] in ${args.pruned}.`);
    work.push({ w, other });
  }
  // Each weight's spectra on the next free worker (every core by default; one thread: in place, no worker); the
  // results do not depend on which.
  const spectra = new Array<WeightSpectrum>(work.length);
  const threads = Math.min(args.threads ?? availableParallelism(), Math.max(1, work.length));
  const workers = threads > 1 ? createWeightWorkers(threads) : { size: 1, run: async (w: WeightWork) => doWeightWork(w, undefined), close: async () => undefined };
  try {
    let next = 0;
    await Promise.all(
      Array.from({ length: workers.size }, async (_, lane) => {
        for (let at = next++; at < work.length; at = next++) {
          // Read when its turn comes: one weight per worker in memory, not the models' every weight.
          const { w, other } = work[at]!;
          const result = await workers.run({ kind: 'spectrum', key: `${w.graph}/${w.name}`, original: readWeight(original, w), pruned: readWeight(pruned, other), view: matrixView(w), top: k }, lane);
          spectra[at] = result.spectrum!;
          progress.tick(w.name);
        }
      }),
    );
  } finally {
    await workers.close();
  }
  const results = work.map(({ w }, at) => ({ name: w.name, graph: w.graph, shape: w.shape, ...spectra[at]! }));
  progress.done();
  if (args.json) {
    printJson(io, { original: args.original, pruned: args.pruned, top: k, weights: results });
    return 0;
  }
  const fmt = (v: number) => v.toPrecision(4);
  const rows = results.map((r) => [
    r.name,
    r.shape.join('x'),
    `${(r.sparsity * 100).toFixed(1)}%`,
    r.spectralError.toFixed(4),
    r.frobeniusError.toFixed(4),
    r.original.slice(0, 3).map(fmt).join(' '),
    r.pruned.slice(0, 3).map(fmt).join(' '),
  ]);
  io.stdout.write(`${renderTable(['weight', 'shape', 'sparsity', 'spectral err', 'frobenius err', 'σ1..3 original', 'σ1..3 pruned'], rows)}\n`);
  return 0;
}
