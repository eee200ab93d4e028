import { interpolateCurve } from './error-curve.js';
import { magnitudeThreshold } from './select.js';

/**
 * Per-weight sparsities that together meet an overall target, by three policies: the same sparsity
 * everywhere ({@link allocateUniform}), one magnitude threshold over all weights ({@link allocateGlobal}),
 * and the least predicted damage under the budget ({@link allocateByCurves}). Every policy returns
 * zeros_i/numel_i with whole zero counts that sum to round(S·Σ numel_i) exactly.
 */

export interface AllocationItem {
  /** Elements of the weight. */
  numel: number;
  /**
   * Predicted damage when this weight alone is pruned to `sparsity` (e.g. its relative spectral error, or
   * the end-to-end output error measured by the caller). Should be 0 or small at 0.
   */
  errorAt?: (sparsity: number) => number;
  /**
   * Used when `errorAt` is absent: the weight's values, from which the curve is the relative Frobenius
   * error of magnitude pruning (see {@link magnitudeErrorCurve}).
   */
  magnitudes?: Float32Array;
  /**
   * {@link allocateByCurves}: a sparsity this item gets whatever its curve (e.g. a weight whose damage
   * could not be measured); the other items share what is left of the budget. Its curve is not read.
   */
  fixedSparsity?: number;
  /**
   * {@link allocateByCurves}: the highest sparsity the curve is trusted at (a trust region around
   * one-at-a-time measurements, whose damages do not add up exactly). Grid points whose whole-element
   * sparsity lies above it are not candidates; it is exceeded only when the target cannot be met otherwise.
   */
  maxSparsity?: number;
}

export interface AllocationOptions {
  /** Candidate sparsities where the curves are evaluated, ascending in [0, 1). Default 0, 0.025, …, 0.975, 0.99, 0.995. */
  grid?: readonly number[];
  /**
   * How an item's damage counts in the sum being minimised: `none` (default) sums errorAt(s) over items,
   * so every weight matters equally, as with per-layer relative errors or a per-layer sensitivity scan;
   * `numel` sums numel·errorAt(s).
   */
  weighting?: 'none' | 'numel';
}

/**
 * Every item gets sparsity S, rounded to whole elements: returns round(S·numel)/numel per item, so
 * numel − round(s·numel) (the sparsifiers' keep count) is within half an element of (1 − S)·numel.
 */
export function allocateUniform(items: readonly AllocationItem[], sparsity: number): number[] {
  assertSparsity(sparsity);
  return items.map((item) => (item.numel > 0 ? Math.round(sparsity * item.numel) / item.numel : 0));
}

/**
 * One magnitude threshold over all items' values (`magnitudes`, required): the round(S·Σ numel) smallest
 * |w| overall are zeroed, so weights with small values give up more. Entries tied at the threshold are
 * kept in item order, as {@link applyMagnitudeThreshold} keeps them, so the total is exact; NaN counts
 * as the largest magnitude.
 * @throws RangeError when an item has no `magnitudes` or their length is not its numel, or S is out of range
 */
export function allocateGlobal(items: readonly AllocationItem[], sparsity: number): number[] {
  assertSparsity(sparsity);
  const arrays = items.map((item, index) => {
    if (!item.magnitudes || item.magnitudes.length !== item.numel) {
      throw new RangeError(`Allocation item ${index} needs its ${item.numel} values as magnitudes for a global threshold.`);
    }
    return item.magnitudes;
  });
  const total = items.reduce((sum, item) => sum + item.numel, 0);
  const t = magnitudeThreshold(arrays, total - Math.round(sparsity * total));
  let ties = t.tiesKept;
  return arrays.map((values) => {
    const keys = new Int32Array(values.buffer, values.byteOffset, values.length);
    let above = 0;
    let equal = 0;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] & 0x7fffffff;
      if (key > t.thresholdKey) above++;
      else if (key === t.thresholdKey) equal++;
    }
    const kept = above + Math.min(equal, ties);
    ties -= Math.min(equal, ties);
    return values.length > 0 ? (values.length - kept) / values.length : 0;
  });
}

/**
 * Per-item sparsities that meet S over all items (Σ zeros_i = round(S·Σ numel_i) exactly) while keeping the
 * summed predicted damage low. Marginal-cost greedy on the lower convex hull of each item's curve over the
 * grid: repeatedly prune the item whose next hull segment costs the least damage per zeroed element. On
 * convex hulls this is the exact minimiser of the piecewise-linear relaxation, i.e. the Lagrangian solution
 * (Everett, "Generalized Lagrange multiplier method", 1963; the same allocation as rate–distortion bit
 * allocation, Shoham & Gersho 1988). The last item moved stops inside its segment to hit the target exactly,
 * so its sparsity may lie between grid points. Items with `fixedSparsity` get round(fixedSparsity·numel)
 * zeros first; `maxSparsity` bounds an item's grid. Returns zeros_i/numel_i per item.
 * @throws RangeError when a free item has neither `errorAt` nor `magnitudes`, or S is out of range
 */
export function allocateByCurves(
  items: readonly AllocationItem[],
  sparsity: number,
  options: AllocationOptions = {},
): number[] {
  assertSparsity(sparsity);
  const grid = options.grid ?? defaultGrid();
  assertGrid(grid);
  const weighting = options.weighting ?? 'none';
  const total = items.reduce((sum, item) => sum + item.numel, 0);
  const target = Math.round(sparsity * total);
  const zeros = new Float64Array(items.length);
  const free: number[] = [];
  items.forEach((item, i) => {
    if (item.fixedSparsity === undefined) free.push(i);
    else zeros[i] = Math.round(Math.min(1, Math.max(0, item.fixedSparsity)) * item.numel);
  });
  let assigned = zeros.reduce((sum, z) => sum + z, 0);

  const hulls = free.map((index) => {
    const item = items[index];
    const curve = curveOf(item, index);
    const weight = weighting === 'numel' ? item.numel : 1;
    const points: Array<[number, number]> = [];
    for (const s of grid) {
      const z = Math.round(s * item.numel);
      if (item.maxSparsity !== undefined && z / Math.max(1, item.numel) > item.maxSparsity) break;
      if (points.length > 0 && z <= points[points.length - 1][0]) continue;
      points.push([z, weight * curve(z / Math.max(1, item.numel))]);
    }
    if (points.length === 0 || points[0][0] !== 0) points.unshift([0, weight * curve(0)]);
    return lowerConvexHull(points);
  });
  const position = new Int32Array(free.length);

  while (assigned < target) {
    let best = -1;
    let bestSlope = Infinity;
    for (let k = 0; k < hulls.length; k++) {
      const hull = hulls[k];
      const p = position[k];
      if (p + 1 >= hull.length) continue;
      const slope = (hull[p + 1][1] - hull[p][1]) / (hull[p + 1][0] - hull[p][0]);
      if (slope < bestSlope) {
        bestSlope = slope;
        best = k;
      }
    }
    if (best < 0) break;
    const hull = hulls[best];
    const step = hull[position[best] + 1][0] - hull[position[best]][0];
    const taken = Math.min(step, target - assigned);
    zeros[free[best]] += taken;
    assigned += taken;
    position[best]++;
  }
  // Beyond the grid (S close to 1, or the trust regions too tight): spread what is left over the room each
  // free item has, first up to its maxSparsity, then up to one element kept.
  for (const bounded of [true, false]) {
    for (let k = 0; assigned < target && k < free.length; k++) {
      const item = items[free[k]];
      const limit = bounded && item.maxSparsity !== undefined ? Math.floor(item.maxSparsity * item.numel) : item.numel - 1;
      const taken = Math.max(0, Math.min(limit - zeros[free[k]], item.numel - 1 - zeros[free[k]], target - assigned));
      zeros[free[k]] += taken;
      assigned += taken;
    }
  }
  // Fixed items may take more than the budget, and one element per item is kept above: settle the total
  // exactly, in item order.
  for (let i = 0; assigned !== target && i < items.length; i++) {
    const step = assigned < target ? Math.min(target - assigned, items[i].numel - zeros[i]) : Math.max(target - assigned, -zeros[i]);
    zeros[i] += step;
    assigned += step;
  }
  return items.map((item, i) => (item.numel > 0 ? zeros[i] / item.numel : 0));
}

/** Σ over items of the (weighted) predicted damage at the given sparsities; for comparing allocations. */
export function predictedDamage(
  items: readonly AllocationItem[],
  sparsities: readonly number[],
  options: Pick<AllocationOptions, 'weighting'> = {},
): number {
  return items.reduce((sum, item, index) => {
    const weight = options.weighting === 'numel' ? item.numel : 1;
    return sum + weight * curveOf(item, index)(sparsities[index]);
  }, 0);
}

/**
 * Relative Frobenius error of magnitude pruning, sqrt(Σ smallest-k w² / Σ w²) at k = round(s·n), as a
 * function of s (piecewise linear between 256 precomputed points). Arrays longer than 2^20 are
 * subsampled with a fixed stride, which changes the curve by well under a percent for weight-like data.
 */
export function magnitudeErrorCurve(magnitudes: Float32Array): (sparsity: number) => number {
  const stride = Math.max(1, Math.ceil(magnitudes.length / (1 << 20)));
  const squares = new Float64Array(Math.ceil(magnitudes.length / stride));
  for (let i = 0, t = 0; i < magnitudes.length; i += stride, t++) squares[t] = magnitudes[i] * magnitudes[i];
  squares.sort();
  let total = 0;
  for (let i = 0; i < squares.length; i++) total += squares[i];
  const points = 256;
  const table = new Float64Array(points + 1);
  let prefix = 0;
  let next = 0;
  for (let p = 0; p <= points; p++) {
    const count = Math.round((p / points) * squares.length);
    while (next < count) prefix += squares[next++];
    table[p] = total > 0 ? Math.sqrt(prefix / total) : 0;
  }
  const grid = Array.from({ length: points + 1 }, (_, p) => p / points);
  const values = Array.from(table);
  return (sparsity) => interpolateCurve(grid, values, Math.min(1, Math.max(0, sparsity)));
}

const curveCache = new WeakMap<AllocationItem, (sparsity: number) => number>();

function curveOf(item: AllocationItem, index: number): (sparsity: number) => number {
  if (item.errorAt) return item.errorAt;
  if (item.magnitudes) {
    let curve = curveCache.get(item);
    if (!curve) {
      curve = magnitudeErrorCurve(item.magnitudes);
      curveCache.set(item, curve);
    }
    return curve;
  }
  throw new RangeError(`Allocation item ${index} has neither errorAt nor magnitudes; give one of them.`);
}

/** Lower convex hull of points sorted by x (Andrew's monotone chain, lower half). */
function lowerConvexHull(points: Array<[number, number]>): Array<[number, number]> {
  const hull: Array<[number, number]> = [];
  for (const point of points) {
    while (hull.length >= 2) {
      const [ax, ay] = hull[hull.length - 2];
      const [bx, by] = hull[hull.length - 1];
      // Drop b when it lies on or above the segment a→point.
      if ((by - ay) * (point[0] - ax) >= (point[1] - ay) * (bx - ax)) hull.pop();
      else break;
    }
    hull.push(point);
  }
  return hull;
}

function defaultGrid(): number[] {
  const grid: number[] = [];
  for (let i = 0; i < 40; i++) grid.push(i / 40);
  grid.push(0.99, 0.995);
  return grid;
}

function assertSparsity(sparsity: number): void {
  if (!(sparsity >= 0 && sparsity < 1)) {
    throw new RangeError(`Sparsity ${sparsity} is out of range; use a number in [0, 1).`);
  }
}

function assertGrid(grid: readonly number[]): void {
  for (let i = 0; i < grid.length; i++) {
    if (!(grid[i] >= 0 && grid[i] < 1) || (i > 0 && grid[i] <= grid[i - 1])) {
      throw new RangeError(`The allocation grid must be ascending numbers in [0, 1); entry ${i} is ${grid[i]}.`);
    }
  }
}
