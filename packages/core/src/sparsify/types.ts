import type { Granularity } from '../granularity.js';

export type MethodName = 'magnitude' | 'l1' | 'l2' | 'bernstein' | 'hybrid' | 'spectral';
/** A method that produces a matrix by itself (every method but the `spectral` search over them). */
export type BaseMethodName = Exclude<MethodName, 'spectral'>;

/** Every method name, in the order the CLI lists them. */
export const METHOD_NAMES: readonly MethodName[] = ['magnitude', 'l1', 'l2', 'bernstein', 'hybrid', 'spectral'];

export interface SparsifyOptions {
  /**
   * Fraction of zeros wanted, in [0, 1). Unstructured: exactly keep = numel − round(sparsity·numel)
   * entries survive, for every method. N:M: ignored, the pattern implies the sparsity (the result
   * reports the achieved one). Block: whole blocks, as close as possible.
   */
  sparsity: number;
  /** Default unstructured. Every method honours it. */
  granularity?: Granularity;
  /** Default 0. Every random choice derives from it. */
  seed?: number;
  /** `hybrid`: share of kept entries chosen deterministically by magnitude, in [0, 1]. Default 0.5. */
  hybridKeepFraction?: number;
  /** `spectral`: seeds tried per random method. Default 3. */
  candidateSeeds?: number;
  /** `spectral`: methods tried. Default all five; `magnitude` is always included. */
  candidateMethods?: readonly BaseMethodName[];
  /**
   * Relative accuracy of the spectral norms behind `spectralError` (and the `spectral` choice).
   * Default 1e-4.
   */
  measureTolerance?: number;
  /**
   * Default true. When false, `spectralError` is NaN and no spectral norm is computed (for callers that
   * only need the pruned data, e.g. very large weights); `spectral` always measures.
   */
  measureSpectralError?: boolean;
}

/** One candidate tried by the `spectral` method. */
export interface SpectralCandidate {
  method: BaseMethodName;
  seed: number;
  /** Relative spectral error; to 1% only when `screenedOut`, else to `measureTolerance`. */
  spectralError: number;
  /** True when the screening measurement already showed that this candidate cannot win. */
  screenedOut?: boolean;
}

export interface SparsifyResult {
  /** New array, same shape as the input: zeros where pruned, rescaled values for sampling methods. */
  data: Float32Array;
  /** The method actually used; for `spectral`, the winning candidate. */
  method: BaseMethodName;
  /** The seed the winning candidate used (the given seed unless `spectral` chose a derived one). */
  seed: number;
  nnz: number;
  /** Achieved fraction of zeros. */
  sparsity: number;
  /** ||W − W′||₂ / ||W||₂ (0 if W is all zero; NaN if not measured). */
  spectralError: number;
  /** ||W − W′||_F / ||W||_F (0 if W is all zero). */
  frobeniusError: number;
  /** ||W||₂, the norm `spectralError` is relative to (NaN if not measured), so callers need not recompute it. */
  spectralNorm: number;
  /** For `spectral`: every candidate tried, in order. */
  candidates?: SpectralCandidate[];
}

/** Options after defaults and validation. */
export interface ResolvedSparsifyOptions {
  sparsity: number;
  keep: number;
  granularity: Granularity;
  seed: number;
  hybridKeepFraction: number;
  candidateSeeds: number;
  candidateMethods: readonly BaseMethodName[];
  measureTolerance: number;
  measureSpectralError: boolean;
}
