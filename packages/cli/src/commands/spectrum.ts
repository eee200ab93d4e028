import path from 'node:path';
import { topSingularValues } from '@specprune/core';
import { measurePruned } from '@specprune/prune';
import { extractBlock, findWeights, matrixView, readModel, readWeight, type WeightRef } from '@specprune/onnx-io/node';
import { defineCommand } from '../command.js';
import { UsageError } from '../errors.js';
import { renderTable } from '../format.js';
import { log, printJson, type Io } from '../io.js';
import { createProgress } from '../progress.js';

interface SpectrumArgs {
  original: string;
  pruned: string;
  top?: number;
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
      .option('json', { type: 'boolean', describe: 'print one JSON document on stdout' })
      .example('$0 spectrum model.onnx model.pruned.onnx --top 16', 'how much of each spectrum survived'),
  run: async (args, io) => spectrum(args, io),
});

async function spectrum(args: SpectrumArgs, io: Io): Promise<number> {
  const k = args.top ?? 8;
  if (!Number.isInteger(k) || k < 1) throw new UsageError(`--top ${args.top} must be a whole number >= 1.`);
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
  const results = [];
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
    const a = readWeight(original, w);
    const b = readWeight(pruned, other);
    const view = matrixView(w);
    // Block-diagonal view: singular values are the union of the blocks'; norms are the max over blocks (as prune measures them).
    const svA: number[] = [];
    const svB: number[] = [];
    for (const block of view.blocks) {
      const kk = Math.min(k, block.rows, block.cols);
      svA.push(...topSingularValues({ data: extractBlock(a, block), rows: block.rows, cols: block.cols }, kk, { seed: 1 }));
      svB.push(...topSingularValues({ data: extractBlock(b, block), rows: block.rows, cols: block.cols }, kk, { seed: 1 }));
    }
    const measured = measurePruned(a, b, view, true, 1e-6);
    results.push({
      name: w.name,
      graph: w.graph,
      shape: w.shape,
      sparsity: measured.sparsity,
      original: svA.sort((x, y) => y - x).slice(0, k),
      pruned: svB.sort((x, y) => y - x).slice(0, k),
      spectralError: measured.spectralError,
      frobeniusError: measured.frobeniusError,
    });
    progress.tick(w.name);
  }
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
