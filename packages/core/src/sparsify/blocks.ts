import type { Matrix } from '../matrix.js';

/** The tiling of a matrix into r x c blocks (edge blocks smaller), as a grid of blockRows x blockCols. */
export interface BlockTiling {
  r: number;
  c: number;
  blockRows: number;
  blockCols: number;
  /** Elements in each block, row-major over the grid. */
  sizes: Float64Array;
}

export function tileBlocks(w: Matrix, r: number, c: number): BlockTiling {
  const blockRows = Math.ceil(w.rows / r);
  const blockCols = Math.ceil(w.cols / c);
  const sizes = new Float64Array(blockRows * blockCols);
  for (let bi = 0; bi < blockRows; bi++) {
    const height = Math.min(r, w.rows - bi * r);
    for (let bj = 0; bj < blockCols; bj++) sizes[bi * blockCols + bj] = height * Math.min(c, w.cols - bj * c);
  }
  return { r, c, blockRows, blockCols, sizes };
}

/** Per-block ℓ1 norm (Σ|w|) or Frobenius norm (sqrt Σw²), row-major over the grid. */
export function blockNorms(w: Matrix, tiling: BlockTiling, norm: 'l1' | 'frobenius'): Float64Array {
  const { r, c, blockCols } = tiling;
  const out = new Float64Array(tiling.sizes.length);
  for (let i = 0; i < w.rows; i++) {
    const blockRowOffset = Math.floor(i / r) * blockCols;
    const offset = i * w.cols;
    for (let j = 0; j < w.cols; j++) {
      const value = w.data[offset + j];
      out[blockRowOffset + Math.floor(j / c)] += norm === 'l1' ? Math.abs(value) : value * value;
    }
  }
  if (norm === 'frobenius') for (let b = 0; b < out.length; b++) out[b] = Math.sqrt(out[b]);
  return out;
}

/** out[i] = w[i] · factor[block of i] (factor 0 drops the block). */
export function scaleBlocks(w: Matrix, tiling: BlockTiling, factor: Float64Array, out: Float32Array): void {
  const { r, c, blockCols } = tiling;
  for (let i = 0; i < w.rows; i++) {
    const blockRowOffset = Math.floor(i / r) * blockCols;
    const offset = i * w.cols;
    for (let j = 0; j < w.cols; j++) {
      const f = factor[blockRowOffset + Math.floor(j / c)];
      out[offset + j] = f === 0 ? 0 : f === 1 ? w.data[offset + j] : w.data[offset + j] * f;
    }
  }
}

/** Block indices ordered by descending norm, ties by index. */
export function blocksByNorm(norms: Float64Array): Uint32Array {
  const order = new Uint32Array(norms.length);
  for (let b = 0; b < order.length; b++) order[b] = b;
  return order.sort((p, q) => norms[q] - norms[p] || p - q);
}

/**
 * Number of blocks a sampling method keeps: the block count whose average size best matches
 * `keepElements` (edge blocks make exact element counts impossible in general).
 */
export function blocksToKeep(tiling: BlockTiling, keepElements: number, numel: number): number {
  const count = tiling.sizes.length;
  return Math.min(count, Math.max(0, Math.round((keepElements * count) / numel)));
}
