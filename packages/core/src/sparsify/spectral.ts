import { frobeniusNorm, type Matrix } from '../matrix.js';
import { deriveSeed } from '../random.js';
import { spectralNorm } from '../spectrum/norm.js';
import { Workspace } from '../workspace.js';
import { sparsifyWith } from './base-methods.js';
import { differenceSpectralNorm, measureSparsificationError, summarise } from './measure.js';
import type { ResolvedSparsifyOptions, SparsifyResult, SpectralCandidate } from './types.js';

/** Relative accuracy of the first, screening measurement of every candidate. */
const SCREENING_TOLERANCE = 1e-2;

/**
 * The `spectral` method: try magnitude and every random method with `candidateSeeds` seeds, measure each
 * candidate's relative spectral-norm error ||W − W′||₂/||W||₂, and keep the lowest. Magnitude is always a
 * candidate and wins ties, so the result is never worse than magnitude pruning. The idea of choosing among
 * sparsifiers by the spectral norm they preserve follows Achlioptas, Karnin & Liberty ("Matrix entry-wise
 * sampling: simple is best", 2013), who compare these distributions by exactly this measure.
 * Cost: every candidate is first measured to 1% (screening); only those that could still beat the best
 * are re-measured at `measureTolerance`, so typically one or two full measurements per weight.
 * Seeds: the random candidates of round t (t = 0, 1, …) use deriveSeed(seed, t), so the result depends only
 * on the input, the options and the seed.
 */
export function searchSpectral(w: Matrix, options: ResolvedSparsifyOptions): SparsifyResult {
  const tolerance = options.measureTolerance;
  const screeningTolerance = Math.max(tolerance, SCREENING_TOLERANCE);
  const zero = frobeniusNorm(w.data) === 0;
  const normOfW = zero ? 0 : spectralNorm(w, { tolerance });
  const workspace = new Workspace();

  const plan: Array<Omit<SpectralCandidate, 'spectralError'>> = [{ method: 'magnitude', seed: options.seed }];
  for (let round = 0; round < options.candidateSeeds; round++) {
    const seed = deriveSeed(options.seed, round);
    for (const method of options.candidateMethods) if (method !== 'magnitude') plan.push({ method, seed });
  }

  // Screening: every candidate at coarse accuracy. A Lanczos estimate never exceeds the true norm and is
  // within its bound below it, so a candidate whose estimate exceeds another's upper end cannot win.
  const screened = plan.map((candidate) => {
    const data = sparsifyWith(w, candidate.method, options, candidate.seed, workspace);
    const { value, bound } = zero ? { value: 0, bound: 0 } : differenceSpectralNorm(w, data, screeningTolerance, workspace);
    return { candidate, value, upper: value + Math.max(bound, screeningTolerance * value) };
  });
  const bestUpper = Math.min(...screened.map((entry) => entry.upper));

  const candidates: SpectralCandidate[] = [];
  let best: { data: Float32Array; candidate: SpectralCandidate } | undefined;
  for (const entry of screened) {
    if (entry.value > bestUpper) {
      candidates.push({ ...entry.candidate, spectralError: zero ? 0 : entry.value / normOfW, screenedOut: true });
      continue;
    }
    const data = sparsifyWith(w, entry.candidate.method, options, entry.candidate.seed, workspace);
    const spectralError = zero ? 0 : differenceSpectralNorm(w, data, tolerance, workspace).value / normOfW;
    const tried: SpectralCandidate = { ...entry.candidate, spectralError };
    candidates.push(tried);
    if (best === undefined || tried.spectralError < best.candidate.spectralError) best = { data, candidate: tried };
  }
  const winner = best!;
  return {
    data: winner.data,
    method: winner.candidate.method,
    seed: winner.candidate.seed,
    ...summarise(winner.data),
    spectralError: winner.candidate.spectralError,
    frobeniusError: measureSparsificationError(w, winner.data, { spectral: false }).frobeniusError,
    spectralNorm: normOfW,
    candidates,
  };
}
