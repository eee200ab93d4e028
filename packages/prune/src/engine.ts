import {
  applyMagnitudeThreshold,
  deriveSeed,
  groupGram,
  groupNorms,
  magnitudeThreshold,
  reconstructionEnergy,
  refitFactor,
  refitPrune,
  sparsify,
  spectralNorm,
  spectralNormOfDifference,
  wandaPrune,
  type Granularity,
  type InputStats,
  type MethodName,
  type RefitFactor,
} from '@specprune/core';
import { extractBlock, scatterBlock, type MatrixBlock, type MatrixView } from '@specprune/onnx-io';

export interface PrunedWeight {
  values: Float32Array;
  nnz: number;
  sparsity: number;
  /** Method used; for `spectral`, the winning candidate (several blocks may pick different ones: "l2+magnitude"). */
  method: string;
  /** ||W - W'||_2 / ||W||_2 of the weight viewed as (block-diagonal) matrices. */
  spectralError: number;
  /** ||W - W'||_F / ||W||_F. */
  frobeniusError: number;
}

/**
 * Splits `zeros` over blocks in proportion to their size (largest remainder), so the weight as a
 * whole gets exactly `zeros` zeros whatever the number of blocks.
 */
function zerosPerBlock(sizes: readonly number[], zeros: number): number[] {
  const total = sizes.reduce((a, b) => a + b, 0);
  const exact = sizes.map((n) => (total ? (zeros * n) / total : 0));
  const out = exact.map(Math.floor);
  let left = zeros - out.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, i] of order) {
    if (left <= 0) break;
    if (out[i]! < sizes[i]!) {
      out[i]!++;
      left--;
    }
  }
  return out;
}

/**
 * Prunes one weight: each matrix block of its view is sparsified with `method` so the weight has
 * `zeros` zeros in total (unstructured); N:M and block granularities set their own count.
 */
export function pruneWeight(
  original: Float32Array,
  view: MatrixView,
  zeros: number,
  method: MethodName,
  granularity: Granularity,
  seed: number,
  weightKey: string,
  options: { measureSpectralError?: boolean; tolerance?: number } = {},
): PrunedWeight {
  const measure = options.measureSpectralError ?? true;
  const values = new Float32Array(original);
  const sizes = view.blocks.map((b) => b.rows * b.cols);
  const blockZeros = zerosPerBlock(sizes, zeros);
  const methods = new Set<string>();
  let maxError = 0;
  let maxNorm = 0;
  let frobError = 0;
  let frobNorm = 0;
  view.blocks.forEach((block, b) => {
    const data = extractBlock(original, block);
    const size = sizes[b]!;
    const result = sparsify({ data, rows: block.rows, cols: block.cols }, method, {
      sparsity: size ? blockZeros[b]! / size : 0,
      granularity,
      seed: deriveSeed(seed, weightKey, b),
      measureSpectralError: measure,
      ...(options.tolerance ? { measureTolerance: options.tolerance } : {}),
    });
    methods.add(result.method);
    scatterBlock(values, block, result.data);
    if (measure) {
      maxNorm = Math.max(maxNorm, result.spectralNorm);
      maxError = Math.max(maxError, result.spectralError * result.spectralNorm);
    }
    let blockFrob = 0;
    for (let i = 0; i < data.length; i++) blockFrob += data[i]! * data[i]!;
    frobNorm += blockFrob;
    frobError += (result.frobeniusError * Math.sqrt(blockFrob)) ** 2;
  });
  return {
    ...summarize(values, measure, { maxError, maxNorm, frobError, frobNorm }),
    method: [...methods].join('+'),
  };
}

/**
 * Unstructured magnitude pruning of a whole weight in place (one threshold over all its elements, exact
 * count): the fast path for large models, with no copy of the weight. Returns nnz and the relative
 * Frobenius error; the spectral error is not measured.
 */
export function pruneMagnitudeInPlace(data: Float32Array, zeros: number): { nnz: number; frobeniusError: number } {
  const threshold = magnitudeThreshold([data], data.length - zeros);
  const energy = { total: 0, removed: 0 };
  const [kept] = applyMagnitudeThreshold([data], threshold, [data], energy);
  // Kept entries are nonzero unless the threshold itself is zero (then count them).
  let nnz = kept!;
  if (threshold.thresholdKey === 0) {
    nnz = 0;
    for (let i = 0; i < data.length; i++) if (data[i] !== 0) nnz++;
  }
  return { nnz, frobeniusError: energy.total > 0 ? Math.sqrt(Math.min(energy.total, energy.removed) / energy.total) : 0 };
}

/** Data-aware methods: they need input statistics from --calibration. */
export type DataAwareMethod = 'wanda' | 'refit';

export interface DataAwarePruned extends PrunedWeight {
  /** ‖(W − W′) X‖_F / ‖W X‖_F on the calibration inputs; null without a Gram matrix. */
  reconstructionError: number | null;
}

/**
 * One matrix the data-aware methods work on: rows [rowStart, rowStart + rows) of a view block, which all
 * see the same inputs (one group of a grouped convolution, or the whole block).
 */
interface Unit {
  block: MatrixBlock;
  rowStart: number;
  rows: number;
  group: number;
}

/**
 * Full Gram matrices (unpacked from packed statistics) and inverse factors are computed once per group and
 * kept with the statistics while one piece of work uses them (the scan re-fits at several sparsities);
 * {@link releaseFactors} drops them.
 */
const working = new WeakMap<InputStats, { grams: Map<number, Float64Array>; factors: Map<number, RefitFactor> }>();

/**
 * Ends one piece of work on `stats`: the full Gram matrices and factors it used are dropped. The weight's
 * next work computes its factor again (the same numbers: the same kernels on the same Gram matrix): keeping
 * every weight's factor from the scan to the final pass took as much memory as the statistics themselves
 * (up to 244 MB more on a ResNet-50-shaped model), recomputing takes 2-7 s there on two cores. With
 * `keepFactors` the factors stay for the weight's next work (the full Gram matrices still go): for the few
 * weights whose factor alone is a long piece of work (see PruneWork `keepFactors`).
 */
export function releaseFactors(stats: InputStats, { keepFactors = false }: { keepFactors?: boolean } = {}): void {
  if (keepFactors) working.get(stats)?.grams.clear();
  else working.delete(stats);
}

/** How many inverse factors of `stats` are held between pieces of work (what {@link releaseFactors} kept). */
export function heldFactors(stats: InputStats): number {
  return working.get(stats)?.factors.size ?? 0;
}

function workingOf(stats: InputStats): { grams: Map<number, Float64Array>; factors: Map<number, RefitFactor> } {
  let held = working.get(stats);
  if (!held) working.set(stats, (held = { grams: new Map(), factors: new Map() }));
  return held;
}

function gramOf(stats: InputStats, group: number): Float64Array {
  const { grams } = workingOf(stats);
  let gram = grams.get(group);
  if (!gram) grams.set(group, (gram = groupGram(stats, group)));
  return gram;
}

function factorOf(stats: InputStats, group: number): RefitFactor {
  const { factors } = workingOf(stats);
  let factor = factors.get(group);
  if (factor) return factor;
  factor = refitFactor(gramOf(stats, group), stats.cols);
  factors.set(group, factor);
  return factor;
}

function unitsOf(view: MatrixView, stats: InputStats): Unit[] {
  const units: Unit[] = [];
  for (const block of view.blocks) {
    const perGroup = block.rows / stats.groups;
    if (!Number.isInteger(perGroup) || block.cols !== stats.cols) throw new Error(`input statistics (${stats.groups} groups of ${stats.cols}) do not fit a ${block.rows}x${block.cols} block`);
    for (let g = 0; g < stats.groups; g++) units.push({ block, rowStart: g * perGroup, rows: perGroup, group: g });
  }
  return units;
}

/**
 * Prunes one weight with calibration statistics: `wanda` (|W|·‖X‖ scores per output row, kept weights
 * unchanged) or `refit` (SparseGPT: OBS mask and re-fit of the kept weights through the inverse input
 * Gram matrix). Without a Gram matrix `refit` falls back to `wanda`; with a block pattern whose tiles
 * straddle convolution groups it also uses `wanda`, which scores the whole matrix at once. The method
 * actually used is returned.
 */
export function pruneWeightWithStats(
  original: Float32Array,
  view: MatrixView,
  zeros: number,
  method: DataAwareMethod,
  granularity: Granularity,
  stats: InputStats,
  options: { measureSpectralError?: boolean; measureReconstruction?: boolean } = {},
): DataAwarePruned {
  const values = new Float32Array(original);
  const units = unitsOf(view, stats);
  const straddles = granularity.kind === 'block' && units.some((u) => u.rows % granularity.r !== 0) && stats.groups > 1;
  const used: DataAwareMethod = method === 'refit' && stats.gram && !straddles ? 'refit' : 'wanda';
  const sizes = view.blocks.map((b) => b.rows * b.cols);
  const blockZeros = zerosPerBlock(sizes, zeros);
  view.blocks.forEach((block, b) => {
    const data = extractBlock(original, block);
    const matrix = { data, rows: block.rows, cols: block.cols };
    const mine = units.filter((u) => u.block === block);
    let pruned: Float32Array;
    if (used === 'wanda') {
      const norms = new Float64Array(stats.groups === 1 ? block.cols : block.rows * block.cols);
      for (const u of mine) {
        const n = groupNorms(stats, u.group);
        if (stats.groups === 1) norms.set(n);
        else for (let r = u.rowStart; r < u.rowStart + u.rows; r++) norms.set(n, r * block.cols);
      }
      pruned = wandaPrune(matrix, norms, blockZeros[b]!, granularity);
    } else {
      pruned = new Float32Array(data.length);
      const unitZeros = zerosPerBlock(mine.map((u) => u.rows * block.cols), blockZeros[b]!);
      mine.forEach((u, k) => {
        const slice = { data: data.subarray(u.rowStart * block.cols, (u.rowStart + u.rows) * block.cols), rows: u.rows, cols: block.cols };
        const gram = gramOf(stats, u.group);
        pruned.set(refitPrune(slice, gram, { zeros: unitZeros[k]!, granularity, factor: factorOf(stats, u.group) }).data, u.rowStart * block.cols);
      });
    }
    scatterBlock(values, block, pruned);
  });
  return { ...measurePruned(original, values, view, options.measureSpectralError ?? true), method: used, reconstructionError: options.measureReconstruction === false ? null : reconstructionErrorOf(original, values, view, stats) };
}

/** ‖W X‖_F² per statistics object: the same for every candidate pruning of that weight. */
const outputEnergy = new WeakMap<InputStats, number>();

/** ‖(W − W′) X‖_F / ‖W X‖_F of a whole weight on the calibration inputs; null without Gram matrices. */
export function reconstructionErrorOf(original: Float32Array, values: Float32Array, view: MatrixView, stats: InputStats): number | null {
  if (!stats.gram) return null;
  let error = 0;
  let total = 0;
  const units = unitsOf(view, stats);
  for (const block of view.blocks) {
    const a = extractBlock(original, block);
    const p = extractBlock(values, block);
    for (const u of units) {
      if (u.block !== block) continue;
      const [from, to] = [u.rowStart * block.cols, (u.rowStart + u.rows) * block.cols];
      const energy = reconstructionEnergy({ data: a.subarray(from, to), rows: u.rows, cols: block.cols }, p.subarray(from, to), gramOf(stats, u.group), !outputEnergy.has(stats));
      error += energy.error;
      total += energy.total;
    }
  }
  if (!outputEnergy.has(stats)) outputEnergy.set(stats, total);
  total = outputEnergy.get(stats)!;
  return total > 0 ? Math.sqrt(Math.max(0, error) / total) : 0;
}

/**
 * nnz and relative spectral/Frobenius errors of a pruned weight, aggregated over its view's blocks as
 * pruneWeight does (spectral: max over blocks; the view is block-diagonal). `tolerance` is the relative
 * accuracy of the spectral norms (default 1e-4).
 */
export function measurePruned(original: Float32Array, values: Float32Array, view: MatrixView, measureSpectral: boolean, tolerance = 1e-4): Omit<PrunedWeight, 'method'> {
  let maxError = 0;
  let maxNorm = 0;
  let frobError = 0;
  let frobNorm = 0;
  for (const block of view.blocks) {
    const a = { data: extractBlock(original, block), rows: block.rows, cols: block.cols };
    const p = extractBlock(values, block);
    for (let i = 0; i < p.length; i++) {
      frobNorm += a.data[i]! * a.data[i]!;
      frobError += (a.data[i]! - p[i]!) ** 2;
    }
    if (measureSpectral) {
      maxNorm = Math.max(maxNorm, spectralNorm(a, { tolerance }));
      maxError = Math.max(maxError, spectralNormOfDifference(a, { data: p, rows: block.rows, cols: block.cols }, { tolerance }));
    }
  }
  return summarize(values, measureSpectral, { maxError, maxNorm, frobError, frobNorm });
}

/** nnz, sparsity and the relative errors from the sums over a weight's blocks (spectral: max over blocks). */
function summarize(
  values: Float32Array,
  measuredSpectral: boolean,
  sums: { maxError: number; maxNorm: number; frobError: number; frobNorm: number },
): Omit<PrunedWeight, 'method'> {
  let nnz = 0;
  for (let i = 0; i < values.length; i++) if (values[i] !== 0) nnz++;
  return {
    values,
    nnz,
    sparsity: values.length ? 1 - nnz / values.length : 0,
    spectralError: !measuredSpectral ? Number.NaN : sums.maxNorm ? sums.maxError / sums.maxNorm : 0,
    frobeniusError: sums.frobNorm ? Math.sqrt(sums.frobError / sums.frobNorm) : 0,
  };
}
