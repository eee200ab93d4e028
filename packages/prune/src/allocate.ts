import { allocateByCurves, allocateGlobal, allocateUniform, interpolateCurve, type Granularity } from '@specprune/core';
import type { MatrixView } from '@specprune/onnx-io';
import type { Allocation } from './options.js';
import { pruneWeight } from './engine.js';

export interface AllocationInput {
  key: string;
  numel: number;
  view: MatrixView;
  /** Needed by global and spectral allocation; uniform only needs numel (so huge models stream). */
  values?: Float32Array;
}

function valuesOf(item: AllocationInput): Float32Array {
  if (!item.values) throw new Error(`allocation needs the values of ${item.key}`);
  return item.values;
}

/** Sparsities at which the spectral allocation samples each weight's error curve. */
export const CURVE_GRID = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95] as const;

/**
 * How far above the overall target one weight's sparsity may go under the spectral allocation. Measured
 * on the PP-OCRv4 recogniser at 30% (magnitude): 0 (uniform) 11% of lines right, 0.1 84%, 0.2 91%,
 * unbounded 34% (dense 94%): one-at-a-time damage curves under-predict what heavily pruned layers do together.
 */
const SPREAD = 0.2;

/**
 * The leading points of a damage-curve grid that the spectral allocation can read at this target: every point
 * below the highest sparsity a weight may get (the target + SPREAD) and the first at or above it. The curves
 * are read only by interpolation at the sparsities the allocation weighs, which stay within that reach, so the
 * sensitivity scan measures no further (at 50%, its 90% point is never read: a quarter of the scan), except
 * for a weight those points show blind (below BLIND_DISTORTION), which is judged on the whole curve.
 */
export function curvePointsRead(grid: readonly number[], sparsity: number): number {
  const reach = sparsity + SPREAD;
  const first = grid.findIndex((g) => g >= reach);
  return first < 0 ? grid.length : first + 1;
}

/** A measured damage curve that stays below this everywhere is blind: the scan could not see the weight. */
export const BLIND_DISTORTION = 1e-7;

/** Sparsities the allocator may give a weight (beyond 0.95 only when the overall target needs it). */
const ALLOCATION_GRID = Array.from({ length: 39 }, (_, k) => k * 0.025);

export interface AllocationResult {
  /** Zeros to reach in each weight. */
  zeros: number[];
  /** Damage curves per weight on `grid` (spectral allocation only): measured output distortion, or relative spectral error. */
  curves?: number[][];
  grid?: readonly number[];
  /** Weights whose pruning did not change the outputs on the scan inputs (given the target sparsity). */
  blind?: string[];
}

/**
 * Decides how many zeros each weight gets so that the selected weights reach `sparsity` overall, with
 * core's allocators (this adapter only supplies the curves and the pipeline's policy constants):
 * - uniform: every weight round(S * numel) ({@link allocateUniform});
 * - global: one magnitude threshold over all weights, ties kept in weight order ({@link allocateGlobal});
 * - spectral: per-weight sparsities from each weight's damage curve, minimising the summed damage under
 *   the overall budget ({@link allocateByCurves}). Curves come from the sensitivity scan (end-to-end output
 *   distortion, `measured`) or, when the model cannot be run, from each weight's relative spectral error
 *   (see docs/how-it-works.md, Allocation).
 */
export function allocate(
  items: readonly AllocationInput[],
  sparsity: number,
  allocation: Allocation,
  granularity: Granularity,
  seed: number,
  measured?: { grid: readonly number[]; curves: number[][] },
): AllocationResult {
  const zerosOf = (sparsities: readonly number[]): number[] => items.map((item, idx) => Math.round(sparsities[idx]! * item.numel));
  switch (allocation) {
    case 'uniform':
      return { zeros: zerosOf(allocateUniform(items, sparsity)) };
    case 'global':
      return { zeros: zerosOf(allocateGlobal(items.map((item) => ({ numel: item.numel, magnitudes: valuesOf(item) })), sparsity)) };
    case 'spectral': {
      const grid = measured?.grid ?? CURVE_GRID;
      const curves = measured?.curves ?? spectralErrorCurves(items, granularity, seed);
      // A weight whose pruning never changed the outputs (e.g. an If branch the scan inputs do not take)
      // is not free: the scan cannot see it. It gets the target sparsity; the rest share the remaining budget.
      const blind = curves.map((c) => measured !== undefined && Math.max(...c) < BLIND_DISTORTION);
      const sparsities = allocateByCurves(
        items.map((item, idx) =>
          blind[idx]
            ? { numel: item.numel, fixedSparsity: sparsity }
            : // Per-weight damages do not add up exactly: a trust region keeps every weight within SPREAD of
              // the target, so no layer is emptied on the strength of a one-at-a-time measurement.
              { numel: item.numel, errorAt: (s: number) => interpolateCurve(grid, curves[idx]!, s), maxSparsity: sparsity + SPREAD },
        ),
        sparsity,
        // Measured curves end at 0.9-0.95: do not extrapolate any weight far past what was measured.
        { grid: ALLOCATION_GRID },
      );
      return { zeros: zerosOf(sparsities), curves, grid, blind: items.filter((_, idx) => blind[idx]).map((item) => item.key) };
    }
  }
}

/** Relative spectral error of magnitude pruning of each weight alone, on CURVE_GRID (1% accuracy). */
export function spectralErrorCurves(items: readonly AllocationInput[], granularity: Granularity, seed: number): number[][] {
  return items.map((item) =>
    CURVE_GRID.map((s) =>
      s === 0 ? 0 : pruneWeight(valuesOf(item), item.view, Math.round(s * item.numel), 'magnitude', granularity, seed, item.key, { tolerance: 1e-2 }).spectralError,
    ),
  );
}
