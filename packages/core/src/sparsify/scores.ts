/**
 * Importance scores for entrywise sampling. The sampler turns scores s_ij into inclusion probabilities
 * π_ij = min(1, c·s_ij), so only the relative size of the scores matters.
 */

export type SamplingDistribution = 'l1' | 'l2' | 'bernstein';

/** A matrix of values (weights, or block norms) given as a flat row-major array. */
export interface ValueGrid {
  values: Float32Array | Float64Array;
  rows: number;
  cols: number;
}

/** Default failure probability δ in the Bernstein distribution's log((m+n)/δ) factor. */
const BERNSTEIN_DELTA = 0.1;

/**
 * Fills `scores` (length rows·cols) for the given distribution.
 * - `l1`: s_ij = |w_ij| (Achlioptas & McSherry, "Fast computation of low-rank matrix approximations",
 *   J. ACM 2007, the ℓ1 scheme; Drineas & Zouzias, "A note on element-wise matrix sparsification via a
 *   matrix-valued Bernstein inequality", IPL 2011, analyse ℓ1 and ℓ2 sampling).
 * - `l2`: s_ij = w_ij² (the same papers' ℓ2 scheme).
 * - `bernstein`: s_ij = ρ_i·|w_ij|/||w_(i)||₁, the distribution of Achlioptas, Karnin & Liberty
 *   ("Near-optimal entrywise sampling for data matrices", NIPS 2013), see {@link bernsteinRowWeights}.
 * @param samples the number of entries to be kept (s in the paper); only `bernstein` uses it
 */
export function computeScores(
  grid: ValueGrid,
  distribution: SamplingDistribution,
  samples: number,
  scores: Float64Array,
): void {
  const { values } = grid;
  switch (distribution) {
    case 'l1':
      for (let i = 0; i < values.length; i++) scores[i] = Math.abs(values[i]);
      return;
    case 'l2':
      for (let i = 0; i < values.length; i++) scores[i] = values[i] * values[i];
      return;
    case 'bernstein':
      computeBernsteinScores(grid, samples, scores);
      return;
  }
}

function computeBernsteinScores(grid: ValueGrid, samples: number, scores: Float64Array): void {
  const { values, rows, cols } = grid;
  // The paper's rows are the lines along the longer dimension (it assumes n >> m, one column per
  // observation); for a tall matrix its "rows" are our columns.
  const alongRows = rows <= cols;
  const lineCount = alongRows ? rows : cols;
  const lineNorms = new Float64Array(lineCount);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) lineNorms[alongRows ? i : j] += Math.abs(values[i * cols + j]);
  }
  const weights = bernsteinRowWeights(lineNorms, rows + cols, Math.max(1, samples));
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const line = alongRows ? i : j;
      const norm = lineNorms[line];
      scores[i * cols + j] = norm > 0 ? (weights[line] * Math.abs(values[i * cols + j])) / norm : 0;
    }
  }
}

/**
 * The row distribution ρ of Achlioptas, Karnin & Liberty (NIPS 2013, Algorithm 1): with
 * L = ln((m+n)/δ), α_i = sqrt(L/s)·||A_(i)||₁ and β_i = L/(3s)·||A_(i)||₁,
 * ρ_i(ζ) = (α_i/(2ζ) + sqrt(α_i²/(4ζ²) + β_i/ζ))², and ζ > 0 is chosen so that Σρ_i = 1 (bisection on
 * log ζ; ρ_i is decreasing in ζ). It balances the two terms of the matrix Bernstein bound: for many samples
 * ρ_i ∝ ||A_(i)||₁² (row-norm-weighted ℓ1), for few samples ρ_i ∝ ||A_(i)||₁ (plain ℓ1).
 * δ = 0.1.
 * @param dimensionSum m + n
 * @param samples s, the number of samples
 */
export function bernsteinRowWeights(lineNorms: Float64Array, dimensionSum: number, samples: number): Float64Array {
  const logTerm = Math.log(dimensionSum / BERNSTEIN_DELTA);
  const alphaFactor = Math.sqrt(logTerm / samples);
  const betaFactor = logTerm / (3 * samples);
  const rho = (zeta: number, norm: number): number => {
    const a = (alphaFactor * norm) / (2 * zeta);
    const root = a + Math.sqrt(a * a + (betaFactor * norm) / zeta);
    return root * root;
  };
  const total = (zeta: number): number => {
    let sum = 0;
    for (let i = 0; i < lineNorms.length; i++) if (lineNorms[i] > 0) sum += rho(zeta, lineNorms[i]);
    return sum;
  };
  const weights = new Float64Array(lineNorms.length);
  let maxNorm = 0;
  for (let i = 0; i < lineNorms.length; i++) maxNorm = Math.max(maxNorm, lineNorms[i]);
  if (maxNorm === 0) return weights;
  let low = Math.log(maxNorm) - 60;
  let high = Math.log(maxNorm) + 60;
  while (total(Math.exp(low)) < 1) low -= 60;
  while (total(Math.exp(high)) > 1) high += 60;
  for (let step = 0; step < 200 && high - low > 1e-13; step++) {
    const middle = (low + high) / 2;
    if (total(Math.exp(middle)) > 1) low = middle;
    else high = middle;
  }
  const zeta = Math.exp((low + high) / 2);
  for (let i = 0; i < lineNorms.length; i++) weights[i] = lineNorms[i] > 0 ? rho(zeta, lineNorms[i]) : 0;
  return weights;
}
