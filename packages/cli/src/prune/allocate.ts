import { allocateByCurves, magnitudeThreshold, type Granularity } from '@specprune/core';
import type { MatrixView } from '@specprune/onnx-io';
import type { Allocation } from './options.js';
import { pruneWeight } from './engine.js';

export interface AllocationInput {
  key: string;
  values: Float32Array;
  view: MatrixView;
}

/** Sparsities at which the spectral allocation samples each weight's error curve. */
export const CURVE_GRID = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95] as const;

export interface AllocationResult {
  /** Zeros to reach in each weight. */
  zeros: number[];
  /** Relative spectral error of magnitude pruning on CURVE_GRID, per weight (spectral allocation only). */
  curves?: number[][];
}

/**
 * Decides how many zeros each weight gets so that the selected weights reach `sparsity` overall:
 * - uniform: every weight round(S * numel);
 * - global: one magnitude threshold over all weights (ties broken in weight order, so the total is exact);
 * - spectral: per-weight sparsities from each weight's measured error curve, minimising the summed
 *   relative spectral error under the overall budget (see README "Allocation" for the evidence).
 */
export function allocate(items: readonly AllocationInput[], sparsity: number, allocation: Allocation, granularity: Granularity, seed: number): AllocationResult {
  const total = items.reduce((s, i) => s + i.values.length, 0);
  const targetZeros = Math.round(sparsity * total);
  switch (allocation) {
    case 'uniform':
      return { zeros: items.map((i) => Math.round(sparsity * i.values.length)) };
    case 'global': {
      const keep = total - targetZeros;
      const { threshold, tiesKept } = magnitudeThreshold(
        items.map((i) => i.values),
        keep,
      );
      // Everything above the threshold is kept; entries equal to it are kept in weight order up to tiesKept.
      let ties = tiesKept;
      return {
        zeros: items.map((item) => {
          const equal = countEqual(item.values, threshold);
          const takeTies = Math.min(equal, ties);
          ties -= takeTies;
          return item.values.length - countAbove(item.values, threshold) - takeTies;
        }),
      };
    }
    case 'spectral': {
      const curves = items.map((item) =>
        CURVE_GRID.map((s) => (s === 0 ? 0 : pruneWeight(item.values, item.view, Math.round(s * item.values.length), 'magnitude', granularity, seed, item.key).spectralError)),
      );
      const sparsities = allocateByCurves(
        items.map((item, idx) => ({ numel: item.values.length, errorAt: (s: number) => interpolate(curves[idx]!, s) })),
        sparsity,
      );
      const zeros = items.map((item, idx) => Math.round(sparsities[idx]! * item.values.length));
      // Fix rounding so the total is exact.
      let diff = targetZeros - zeros.reduce((a, b) => a + b, 0);
      for (let idx = 0; diff !== 0 && idx < zeros.length; idx++) {
        const step = diff > 0 ? Math.min(diff, items[idx]!.values.length - zeros[idx]!) : Math.max(diff, -zeros[idx]!);
        zeros[idx]! += step;
        diff -= step;
      }
      return { zeros, curves };
    }
  }
}

function countAbove(values: Float32Array, threshold: number): number {
  let n = 0;
  for (let i = 0; i < values.length; i++) if (Math.abs(values[i]!) > threshold) n++;
  return n;
}

function countEqual(values: Float32Array, threshold: number): number {
  let n = 0;
  for (let i = 0; i < values.length; i++) if (Math.abs(values[i]!) === threshold) n++;
  return n;
}

/** Piecewise-linear interpolation of a curve sampled on CURVE_GRID (clamped beyond the last point). */
export function interpolate(curve: readonly number[], s: number): number {
  const grid = CURVE_GRID;
  if (s <= 0) return curve[0]!;
  for (let k = 1; k < grid.length; k++) {
    if (s <= grid[k]!) {
      const t = (s - grid[k - 1]!) / (grid[k]! - grid[k - 1]!);
      return curve[k - 1]! + t * (curve[k]! - curve[k - 1]!);
    }
  }
  const last = grid.length - 1;
  const slope = (curve[last]! - curve[last - 1]!) / (grid[last]! - grid[last - 1]!);
  return curve[last]! + slope * (s - grid[last]!);
}
