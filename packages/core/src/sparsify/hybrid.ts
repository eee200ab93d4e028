import { groupKeep, type Granularity } from '../granularity.js';
import type { Matrix } from '../matrix.js';
import { createRandom } from '../random.js';
import { Workspace } from '../workspace.js';
import { applyMagnitudeThreshold, magnitudeThreshold, selectLargestInRange } from '../select.js';
import { blockNorms, blocksByNorm, blocksToKeep, scaleBlocks, tileBlocks } from './blocks.js';
import { sampleByImportance, sampleRescaled } from './sampling.js';

/**
 * Deterministic + sampled hybrid: the largest round(fraction·keep) entries are kept as they are, and the
 * rest of the budget is drawn from the remaining entries by ℓ1 importance sampling (π ∝ |w|) with 1/π
 * rescaling. ℓ1 rather than ℓ2 for the remainder because the rescaled values w/π = sign(w)/c are then
 * bounded, where ℓ2 would inflate the smallest entries most. The large entries carry the spectrum's top;
 * sampling the tail keeps it unbiased (E[W′] = W) instead of truncated. This follows the split of
 * Kundu & Drineas ("A note on randomized element-wise matrix sparsification", 2014), who keep large
 * entries and sample the rest, and of Achlioptas & McSherry (2007), who keep entries above a threshold.
 * Granularity as in {@link sparsifyByImportance}: per N:M group round(fraction·quota) by magnitude then
 * sampling; for blocks, ℓ1 block norms for both parts.
 * With fraction < 1 at least one slot of every budget (each N:M group's quota included) is sampled, so every
 * nonzero entry has a positive inclusion probability and the estimate stays unbiased.
 */
export function sparsifyHybrid(
  w: Matrix,
  keep: number,
  granularity: Granularity,
  seed: number,
  fraction: number,
  workspace: Workspace = new Workspace(),
): Float32Array {
  const random = createRandom(seed);
  const out = new Float32Array(w.data.length);
  switch (granularity.kind) {
    case 'unstructured': {
      const fixed = deterministicShare(fraction, keep);
      applyMagnitudeThreshold([w.data], magnitudeThreshold([w.data], fixed), [out]);
      const scores = workspace.float64Array('scores', w.data.length);
      for (let i = 0; i < scores.length; i++) scores[i] = out[i] === 0 ? Math.abs(w.data[i]) : 0;
      const inclusion = workspace.float64Array('inclusion', w.data.length);
      sampleRescaled(w.data, 0, scores.length, scores, keep - fixed, random, inclusion, out);
      return out;
    }
    case 'nm': {
      const { n, m } = granularity;
      const selected = new Uint8Array(w.data.length);
      const scores = new Float64Array(m);
      const inclusion = new Float64Array(m);
      for (let i = 0; i < w.rows; i++) {
        for (let start = 0; start < w.cols; start += m) {
          const length = Math.min(m, w.cols - start);
          const offset = i * w.cols + start;
          const quota = groupKeep(n, m, length);
          const fixed = deterministicShare(fraction, quota);
          selectLargestInRange(w.data, offset, length, fixed, selected);
          for (let t = 0; t < length; t++) {
            scores[t] = selected[offset + t] ? 0 : Math.abs(w.data[offset + t]);
            if (selected[offset + t]) out[offset + t] = w.data[offset + t];
          }
          sampleRescaled(w.data, offset, length, scores, quota - fixed, random, inclusion, out);
        }
      }
      return out;
    }
    case 'block': {
      const tiling = tileBlocks(w, granularity.r, granularity.c);
      const norms = blockNorms(w, tiling, 'l1');
      const keepBlocks = blocksToKeep(tiling, keep, w.data.length);
      const fixed = deterministicShare(fraction, keepBlocks);
      const factor = new Float64Array(norms.length);
      const scores = Float64Array.from(norms);
      const order = blocksByNorm(norms);
      for (let t = 0; t < fixed; t++) {
        factor[order[t]] = 1;
        scores[order[t]] = 0;
      }
      const inclusion = new Float64Array(norms.length);
      sampleByImportance(scores, 0, scores.length, keepBlocks - fixed, random, inclusion);
      for (let b = 0; b < inclusion.length; b++) if (inclusion[b] > 0) factor[b] = 1 / inclusion[b];
      scaleBlocks(w, tiling, factor, out);
      return out;
    }
  }
}

/** round(fraction·budget), leaving at least one sampled slot unless fraction is 1. */
function deterministicShare(fraction: number, budget: number): number {
  const fixed = Math.round(fraction * budget);
  return fraction < 1 ? Math.min(fixed, Math.max(0, budget - 1)) : fixed;
}
