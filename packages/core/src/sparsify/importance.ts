import { groupKeep, type Granularity } from '../granularity.js';
import type { Matrix } from '../matrix.js';
import { createRandom } from '../random.js';
import { Workspace } from '../workspace.js';
import { blockNorms, blocksToKeep, scaleBlocks, tileBlocks } from './blocks.js';
import { sampleByImportance, sampleRescaled } from './sampling.js';
import { computeScores, type SamplingDistribution } from './scores.js';

/**
 * Entrywise importance sampling with rescaling, so that E[W′] = W: `l1`, `l2` and `bernstein`
 * (scores in {@link computeScores}), drawn without replacement with exact inclusion probabilities π by
 * {@link sampleByImportance} and each kept entry scaled by 1/π.
 * - unstructured: exactly `keep` entries (fewer only if W has fewer nonzeros);
 * - N:M: each group draws its quota (see {@link groupKeep}) from its own entries with scores |w| (`l1`,
 *   and `bernstein`, whose row factor is constant within a group) or w² (`l2`); `keep` is ignored;
 * - block: blocks scored by their ℓ1 norm (`l1`, `bernstein` over the grid of block norms) or Frobenius
 *   norm (`l2`, so the score is the block's Σw²); exactly {@link blocksToKeep} blocks are drawn, each
 *   kept block scaled by 1/π.
 */
export function sparsifyByImportance(
  w: Matrix,
  distribution: SamplingDistribution,
  keep: number,
  granularity: Granularity,
  seed: number,
  workspace: Workspace = new Workspace(),
): Float32Array {
  const random = createRandom(seed);
  const out = new Float32Array(w.data.length);
  switch (granularity.kind) {
    case 'unstructured': {
      const scores = workspace.float64Array('scores', w.data.length);
      computeScores({ values: w.data, rows: w.rows, cols: w.cols }, distribution, keep, scores);
      const inclusion = workspace.float64Array('inclusion', w.data.length);
      sampleRescaled(w.data, 0, scores.length, scores, keep, random, inclusion, out);
      return out;
    }
    case 'nm': {
      const { n, m } = granularity;
      const scores = new Float64Array(m);
      const inclusion = new Float64Array(m);
      for (let i = 0; i < w.rows; i++) {
        for (let start = 0; start < w.cols; start += m) {
          const length = Math.min(m, w.cols - start);
          const offset = i * w.cols + start;
          for (let t = 0; t < length; t++) {
            const value = w.data[offset + t];
            scores[t] = distribution === 'l2' ? value * value : Math.abs(value);
          }
          sampleRescaled(w.data, offset, length, scores, groupKeep(n, m, length), random, inclusion, out);
        }
      }
      return out;
    }
    case 'block': {
      const tiling = tileBlocks(w, granularity.r, granularity.c);
      const norms = blockNorms(w, tiling, distribution === 'l2' ? 'frobenius' : 'l1');
      const keepBlocks = blocksToKeep(tiling, keep, w.data.length);
      const scores = new Float64Array(norms.length);
      computeScores({ values: norms, rows: tiling.blockRows, cols: tiling.blockCols }, distribution, keepBlocks, scores);
      const inclusion = new Float64Array(norms.length);
      sampleByImportance(scores, 0, scores.length, keepBlocks, random, inclusion);
      for (let b = 0; b < inclusion.length; b++) if (inclusion[b] > 0) inclusion[b] = 1 / inclusion[b];
      scaleBlocks(w, tiling, inclusion, out);
      return out;
    }
  }
}
