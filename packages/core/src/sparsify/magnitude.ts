import { groupKeep, type Granularity } from '../granularity.js';
import type { Matrix } from '../matrix.js';
import { applyMagnitudeThreshold, magnitudeThreshold, selectLargestInRange } from '../select.js';
import { blockNorms, blocksByNorm, scaleBlocks, tileBlocks } from './blocks.js';

/**
 * Magnitude pruning: keep the largest |w| (Han, Pool, Tran & Dally, "Learning both weights and connections
 * for efficient neural networks", NeurIPS 2015; Zhu & Gupta, "To prune, or not to prune", 2017).
 * - unstructured: exactly `keep` entries, chosen by the linear-time radix selection of
 *   {@link magnitudeThreshold} (ties go to the lower index);
 * - N:M: the largest n of each group (trailing partial groups: see {@link groupKeep}); `keep` is ignored;
 * - block: blocks in order of Frobenius norm, each taken when it brings the kept element count closer to
 *   `keep` (so edge blocks can fill the remainder).
 */
export function sparsifyMagnitude(w: Matrix, keep: number, granularity: Granularity): Float32Array {
  const out = new Float32Array(w.data.length);
  switch (granularity.kind) {
    case 'unstructured':
      applyMagnitudeThreshold([w.data], magnitudeThreshold([w.data], keep), [out]);
      return out;
    case 'nm': {
      const { n, m } = granularity;
      const selected = new Uint8Array(w.data.length);
      for (let i = 0; i < w.rows; i++) {
        for (let start = 0; start < w.cols; start += m) {
          const length = Math.min(m, w.cols - start);
          selectLargestInRange(w.data, i * w.cols + start, length, groupKeep(n, m, length), selected);
        }
      }
      for (let i = 0; i < out.length; i++) if (selected[i]) out[i] = w.data[i];
      return out;
    }
    case 'block': {
      const tiling = tileBlocks(w, granularity.r, granularity.c);
      const norms = blockNorms(w, tiling, 'frobenius');
      const factor = new Float64Array(norms.length);
      let kept = 0;
      for (const b of blocksByNorm(norms)) {
        const size = tiling.sizes[b];
        if (Math.abs(kept + size - keep) < Math.abs(kept - keep)) {
          factor[b] = 1;
          kept += size;
        }
      }
      scaleBlocks(w, tiling, factor, out);
      return out;
    }
  }
}
