import { accumulateColumnInputs, accumulateConvInputs, accumulateRowInputs, packInputStats, topSingularValues, type ConvGeometry, type Granularity, type InputStats, type MethodName } from '@specprune/core';
import { extractBlock, type MatrixView } from '@specprune/onnx-io';
import { measurePruned, pruneWeight, pruneWeightWithStats, reconstructionErrorOf, releaseFactors, type DataAwarePruned, type PrunedWeight } from './engine.js';
import type { PruneMethod } from './options.js';

/**
 * The per-weight numerical work of data-aware pruning, as a message a worker thread can run: plain data
 * in, plain data out, no closures. The pipeline runs it in place or hands it to workers (PruneContext
 * `workers`); the result is the same either way, whatever the number of workers.
 */
export type WeightWork = PruneWork | StatsWork | PlainWork | SpectrumWork;

/**
 * A weight pruned without input statistics (magnitude and the matrix samplers) whose measurement is worth a
 * thread: the same call the pipeline makes in place, so the bytes are the same wherever it runs.
 */
export interface PlainWork {
  kind: 'plain';
  key: string;
  original: Float32Array;
  view: MatrixView;
  zeros: number;
  method: MethodName;
  granularity: Granularity;
  seed: number;
  measureSpectralError: boolean;
}

/**
 * Input statistics built where they will be used: `accumulate` adds one sample's input vectors of the
 * weight (cut from its activation as `plan` says), `finish` folds what is buffered. The first piece of
 * work on a weight carries its empty statistics.
 */
export interface StatsWork {
  kind: 'accumulate' | 'finish';
  key: string;
  plan?: { kind: 'rows' | 'columns' | 'conv'; geometry?: ConvGeometry };
  activation?: { data: Float32Array; dims: number[] };
  stats?: InputStats;
}

export interface PruneWork {
  /** scan: the re-fit alone at each of `zeros`; final: the method's choice at `zeros[0]`. */
  kind: 'scan' | 'final';
  key: string;
  original: Float32Array;
  view: MatrixView;
  zeros: number[];
  method: PruneMethod;
  granularity: Granularity;
  seed: number;
  measureSpectralError: boolean;
  /** final: also return the magnitude candidate for the output check (its spectral error not measured: NaN). */
  withMagnitude?: boolean;
  /** The weight's input statistics; a worker keeps them by key, so they are sent once per worker. */
  stats?: InputStats;
  /** The last work on this weight: whoever holds its statistics drops them afterwards. */
  last?: boolean;
  /**
   * Keep the weight's inverse factors for its next work instead of computing them again (the scan's work on
   * a weight whose factor takes a large part of the final pass: 1.6 s for a 2880-input convolution).
   */
  keepFactors?: boolean;
}

/** A weight's spectrum against its pruned version's (`specprune spectrum`): see {@link weightSpectrum}. */
export interface SpectrumWork {
  kind: 'spectrum';
  key: string;
  original: Float32Array;
  pruned: Float32Array;
  view: MatrixView;
  top: number;
}

export interface WeightWorkResult {
  results: DataAwarePruned[];
  magnitude?: DataAwarePruned;
  /** The result of {@link PlainWork}. */
  plain?: PrunedWeight;
  /** The result of {@link SpectrumWork}. */
  spectrum?: WeightSpectrum;
}

/** The top singular values of a weight and of its pruned version, and the pruned version's errors. */
export interface WeightSpectrum {
  sparsity: number;
  original: number[];
  pruned: number[];
  spectralError: number;
  frobeniusError: number;
}

/**
 * The top `top` singular values of `original` and `pruned` (over the view's blocks: a block-diagonal matrix's
 * singular values are the union of its blocks'), descending, and the pruned weight's relative errors as the
 * pipeline measures them (spectral: the largest over blocks), the norms to 1e-6.
 */
export function weightSpectrum(original: Float32Array, pruned: Float32Array, view: MatrixView, top: number): WeightSpectrum {
  const svA: number[] = [];
  const svB: number[] = [];
  for (const block of view.blocks) {
    const k = Math.min(top, block.rows, block.cols);
    svA.push(...topSingularValues({ data: extractBlock(original, block), rows: block.rows, cols: block.cols }, k, { seed: 1 }));
    svB.push(...topSingularValues({ data: extractBlock(pruned, block), rows: block.rows, cols: block.cols }, k, { seed: 1 }));
  }
  const measured = measurePruned(original, pruned, view, true, 1e-6);
  return {
    sparsity: measured.sparsity,
    original: svA.sort((x, y) => y - x).slice(0, top),
    pruned: svB.sort((x, y) => y - x).slice(0, top),
    spectralError: measured.spectralError,
    frobeniusError: measured.frobeniusError,
  };
}

/** Runs one piece of work with the weight's statistics (none for {@link PlainWork}). */
export function doWeightWork(work: WeightWork, stats: InputStats | undefined): WeightWorkResult {
  if (work.kind === 'spectrum') return { results: [], spectrum: weightSpectrum(work.original, work.pruned, work.view, work.top) };
  if (work.kind === 'plain') {
    const { original, view, zeros, method, granularity, seed, key, measureSpectralError } = work;
    return { results: [], plain: pruneWeight(original, view, zeros, method, granularity, seed, key, { measureSpectralError }) };
  }
  if (!stats) throw new Error(`weight work: no input statistics for ${work.key}`);
  if (work.kind === 'scan' || work.kind === 'final') {
    try {
      return pruneWork(work, stats);
    } finally {
      // Full Gram matrices and inverse factors live only while one piece of work uses them (held for every
      // weight at once, they took four times the memory of the packed statistics).
      releaseFactors(stats, { keepFactors: work.keepFactors === true && !work.last });
    }
  }
  const { plan, activation } = work as StatsWork;
  // Statistics wait for their uses packed (half the memory; the same numbers).
  if (work.kind === 'finish') packInputStats(stats);
  else accumulateActivation(stats, plan!, activation!.data, activation!.dims);
  return { results: [] };
}

function pruneWork(work: PruneWork, stats: InputStats): WeightWorkResult {
  const { original, view, granularity } = work;
  if (work.kind === 'scan') {
    // Method spectral's curves use the re-fit alone: it wins the final choice on almost every weight (45
    // of 46 on the PP-OCRv4 recogniser), at a third of the cost.
    const method = work.method === 'wanda' ? 'wanda' : 'refit';
    return { results: work.zeros.map((zeros) => pruneWeightWithStats(original, view, zeros, method, granularity, stats, { measureSpectralError: false, measureReconstruction: false })) };
  }
  const zeros = work.zeros[0]!;
  const measure = work.measureSpectralError;
  let magnitude: DataAwarePruned | undefined;
  const magnitudeCandidate = (): DataAwarePruned => {
    if (!magnitude) {
      const plain = pruneWeight(original, view, zeros, 'magnitude', granularity, work.seed, work.key, { measureSpectralError: false });
      magnitude = { ...plain, reconstructionError: reconstructionErrorOf(original, plain.values, view, stats) };
    }
    return magnitude;
  };
  const measured = (chosen: DataAwarePruned): DataAwarePruned => (measure ? { ...chosen, ...measurePruned(original, chosen.values, view, true), method: chosen.method } : chosen);
  let best: DataAwarePruned;
  if (work.method === 'wanda' || work.method === 'refit') best = pruneWeightWithStats(original, view, zeros, work.method, granularity, stats, { measureSpectralError: measure });
  else {
    // spectral: the candidate that best preserves the layer's output on the inputs seen, ‖(W − W′) X‖
    // (spectrum preservation on the subspace the data uses).
    const refit = pruneWeightWithStats(original, view, zeros, 'refit', granularity, stats, { measureSpectralError: false });
    if (refit.reconstructionError === null) best = pruneWeightWithStats(original, view, zeros, 'wanda', granularity, stats, { measureSpectralError: measure });
    else {
      const candidates: DataAwarePruned[] = [refit];
      if (refit.method === 'refit') candidates.push(pruneWeightWithStats(original, view, zeros, 'wanda', granularity, stats, { measureSpectralError: false }));
      candidates.push(magnitudeCandidate());
      best = measured(candidates.reduce((a, b) => (b.reconstructionError! < a.reconstructionError! ? b : a)));
    }
  }
  if (!work.withMagnitude || best.method === 'magnitude') return { results: [best] };
  // The twin is measured only where the output check keeps it (its spectral error is NaN here): two Lanczos
  // runs per weight saved, as the re-fit is kept almost everywhere.
  return { results: [best], magnitude: magnitudeCandidate() };
}

/**
 * Runs weight work somewhere else (worker threads); `lane` pins work on one weight to one worker, which
 * keeps the weight's statistics: `stats` travel with the first piece of work on a weight and are dropped
 * from later ones by the pool.
 */
export interface WeightWorkers {
  /** How many pieces of work can run at once. */
  readonly size: number;
  run(work: WeightWork, lane: number): Promise<WeightWorkResult>;
  /**
   * Ends the workers for now (a later `run` starts them again): the pipeline calls it once its last weight
   * is pruned, so what the workers took is given back before the written model is loaded for the check.
   * Work still pending is dropped, not settled: give each prune its own pool (the CLI makes one per run).
   */
  close?(): Promise<void>;
}

/** Adds the input vectors of one activation (one sample) to a weight's statistics, cut as its plan says. */
export function accumulateActivation(stats: InputStats, plan: { kind: 'rows' | 'columns' | 'conv'; geometry?: ConvGeometry }, data: Float32Array, dims: readonly number[]): void {
  if (plan.kind === 'conv') accumulateConvInputs(stats, data, dims, plan.geometry!);
  else if (plan.kind === 'rows') accumulateRowInputs(stats, data);
  else accumulateColumnInputs(stats, data, dims[dims.length - 1]!);
}
