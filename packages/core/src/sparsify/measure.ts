import { countNonzero, frobeniusDistance, frobeniusNorm, type Matrix } from '../matrix.js';
import { estimateTopSingularValues } from '../spectrum/lanczos.js';
import { spectralNorm } from '../spectrum/norm.js';
import { matrixOperator } from '../spectrum/operator.js';
import { Workspace } from '../workspace.js';

/** nnz and achieved sparsity of a pruned array. */
export function summarise(data: Float32Array): { nnz: number; sparsity: number } {
  const nnz = countNonzero(data);
  return { nnz, sparsity: data.length === 0 ? 0 : (data.length - nnz) / data.length };
}

/**
 * Relative errors of a pruned matrix: ||W − W′||₂/||W||₂ (Lanczos, relative accuracy `tolerance`,
 * default 1e-4) and ||W − W′||_F/||W||_F. Both 0 when W is all zero.
 * @param pruned same shape as `w`
 * @param options.spectral false to skip the spectral norm (spectralError is then NaN)
 * @param options.normOfW ||W||₂ if the caller already has it
 */
export function measureSparsificationError(
  w: Matrix,
  pruned: Float32Array,
  options: { spectral?: boolean; tolerance?: number; normOfW?: number } = {},
): { spectralError: number; frobeniusError: number } {
  if (pruned.length !== w.data.length) {
    throw new RangeError(`The pruned array has ${pruned.length} elements; the matrix has ${w.data.length}.`);
  }
  const frobenius = frobeniusNorm(w.data);
  const frobeniusError = frobenius === 0 ? 0 : frobeniusDistance(w.data, pruned) / frobenius;
  if (options.spectral === false) return { spectralError: Number.NaN, frobeniusError };
  if (frobenius === 0) return { spectralError: 0, frobeniusError };
  const tolerance = options.tolerance ?? 1e-4;
  const norm = options.normOfW ?? spectralNorm(w, { tolerance });
  const differenceNorm = differenceSpectralNorm(w, pruned, tolerance).value;
  return { spectralError: differenceNorm / norm, frobeniusError };
}

/**
 * ||W − W′||₂ with its error bound (the true value lies in [value, value + bound]).
 * W − W′ is materialised once in float32 (exact for pruned and untouched entries) so that each Lanczos step
 * streams one array through the blocked kernels instead of two.
 */
export function differenceSpectralNorm(
  w: Matrix,
  pruned: Float32Array,
  tolerance: number,
  workspace: Workspace = new Workspace(),
): { value: number; bound: number } {
  const difference = workspace.float32Array('difference', pruned.length);
  for (let i = 0; i < difference.length; i++) difference[i] = w.data[i] - pruned[i];
  const estimate = estimateTopSingularValues(matrixOperator({ data: difference, rows: w.rows, cols: w.cols }), 1, { tolerance });
  return { value: estimate.values[0], bound: estimate.residuals[0] };
}
