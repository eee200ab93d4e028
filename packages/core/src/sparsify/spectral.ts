import { frobeniusNorm, type Matrix } from '../matrix.js';
import { deriveSeed } from '../random.js';
import { spectralNorm } from '../spectrum/norm.js';
import { measureSparsificationError, sparsifyWith, summarise, type ResolvedSparsifyOptions } from './sparsify.js';
import type { SparsifyResult, SpectralCandidate } from './types.js';

/**
 * The `spectral` method: try magnitude and every random method with `candidateSeeds` seeds, measure each
 * candidate's relative spectral-norm error ||W − W′||₂/||W||₂, and keep the lowest. Magnitude is always a
 * candidate and wins ties, so the result is never worse than magnitude pruning. The idea of choosing among
 * sparsifiers by the spectral norm they preserve follows Achlioptas, Karnin & Liberty ("Matrix entry-wise
 * sampling: simple is best", 2013), who compare these distributions by exactly this measure.
 * Seeds: the random candidates of round t (t = 0, 1, …) use deriveSeed(seed, t), so the result depends only
 * on the input, the options and the seed.
 */
export function searchSpectral(w: Matrix, options: ResolvedSparsifyOptions): SparsifyResult {
  const tolerance = options.measureTolerance;
  const normOfW = frobeniusNorm(w.data) === 0 ? 0 : spectralNorm(w, { tolerance });
  const candidates: SpectralCandidate[] = [];
  let best: { data: Float32Array; candidate: SpectralCandidate; frobeniusError: number } | undefined;

  const consider = (candidate: Omit<SpectralCandidate, 'spectralError'>): void => {
    const data = sparsifyWith(w, candidate.method, options, candidate.seed);
    const errors = measureSparsificationError(w, data, { tolerance, normOfW: normOfW === 0 ? undefined : normOfW });
    const tried = { ...candidate, spectralError: errors.spectralError };
    candidates.push(tried);
    if (best === undefined || tried.spectralError < best.candidate.spectralError) {
      best = { data, candidate: tried, frobeniusError: errors.frobeniusError };
    }
  };

  consider({ method: 'magnitude', seed: options.seed });
  for (let round = 0; round < options.candidateSeeds; round++) {
    const seed = deriveSeed(options.seed, round);
    for (const method of options.candidateMethods) if (method !== 'magnitude') consider({ method, seed });
  }
  const winner = best!;
  return {
    data: winner.data,
    method: winner.candidate.method,
    seed: winner.candidate.seed,
    ...summarise(winner.data),
    spectralError: winner.candidate.spectralError,
    frobeniusError: winner.frobeniusError,
    candidates,
  };
}
