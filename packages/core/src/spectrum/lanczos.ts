import { SingularValueDecomposition, Matrix as MlMatrix } from 'ml-matrix';
import { assertMatrix, isEmptyMatrix, type Matrix } from '../matrix.js';
import { releaseKernelArrays } from '../kernels/index.js';
import { createRandom, type Random } from '../random.js';
import { matrixOperator, type LinearOperator } from './operator.js';

/** Options for {@link estimateTopSingularValues}. */
export interface LanczosOptions {
  /**
   * Wanted relative accuracy of each value: stop when every wanted Ritz value θ_i has an error bound
   * ≤ tolerance · θ_i. The bound is the residual r_i = ||Aᵀu_i − θ_i v_i||, refined to r_i²/gap_i when the
   * Ritz values are separated by more than r_i. Default 1e-6.
   */
  tolerance?: number;
  /** Largest Krylov dimension (steps of bidiagonalisation). Default min(rows, cols, 2k + 400). */
  maxIterations?: number;
  /** Seed of the random start vector. Default 0. */
  seed?: number;
}

/** Result of {@link estimateTopSingularValues}. */
export interface SingularValueEstimate {
  /** The top singular values, descending; length min(k, rows, cols). */
  values: Float64Array;
  /** Error bound of each value (0 when the Krylov space is exhausted and the values are exact). */
  residuals: Float64Array;
  /** Krylov dimension reached. */
  iterations: number;
  /** Whether every value met the tolerance. */
  converged: boolean;
}

/**
 * Top-k singular values by Golub–Kahan–Lanczos bidiagonalisation with full reorthogonalisation
 * (Golub & Kahan, "Calculating the singular values and pseudo-inverse of a matrix", 1965; the
 * reorthogonalised variant as in Golub & Van Loan, "Matrix Computations", §10.4). Lanczos vectors are
 * float64 and reorthogonalised twice by classical Gram–Schmidt (Giraud et al., "Rounding error analysis
 * of the classical Gram-Schmidt orthogonalization process", 2005). Breakdowns (an exhausted Krylov
 * space, rank deficiency) restart with a fresh random vector orthogonal to the basis, so zero singular
 * values are found exactly. The small bidiagonal problem is solved with ml-matrix's SVD.
 */
export function estimateTopSingularValues(
  operator: LinearOperator,
  k: number,
  options: LanczosOptions = {},
): SingularValueEstimate {
  // Work on the orientation with rows >= cols, so that n steps span all of R^n and the result is exact.
  const op = operator.rows >= operator.cols ? operator : transposeOperator(operator);
  const { rows: m, cols: n } = op;
  const full = Math.min(m, n);
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`k ${k} is out of range; use a positive integer.`);
  const wanted = Math.min(k, full);
  const tolerance = options.tolerance ?? 1e-6;
  const maxDimension = Math.max(wanted, Math.min(full, options.maxIterations ?? 2 * k + 400));
  const random = createRandom(options.seed ?? 0);

  const us = new Float64Array(maxDimension * m);
  const vs = new Float64Array((maxDimension + 1) * n);
  const alphas = new Float64Array(maxDimension);
  const betas = new Float64Array(maxDimension);
  const u = new Float64Array(m);
  const v = new Float64Array(n);

  fillRandomUnitOrthogonal(v, vs, 0, random);
  vs.set(v, 0);
  let scale = 0;
  let dimension = 0;
  let nextCheck = wanted;
  let estimate: SingularValueEstimate | undefined;

  while (dimension < maxDimension) {
    const j = dimension;
    // u_j = A v_j − β_{j−1} u_{j−1}, then orthogonalise against u_0..u_{j−1}.
    op.multiply(vs.subarray(j * n, (j + 1) * n), u);
    if (j > 0) axpy(-betas[j - 1], us.subarray((j - 1) * m, j * m), u);
    reorthogonalise(u, us, j);
    let alpha = norm(u);
    scale = Math.max(scale, alpha);
    if (alpha <= breakdownLevel(scale, m, n)) {
      alpha = 0;
      fillRandomUnitOrthogonal(u, us, j, random);
    } else {
      scaleInPlace(u, 1 / alpha);
    }
    alphas[j] = alpha;
    us.set(u, j * m);

    // v_{j+1} = Aᵀ u_j − α_j v_j, then orthogonalise against v_0..v_j.
    op.multiplyTranspose(u, v);
    axpy(-alpha, vs.subarray(j * n, (j + 1) * n), v);
    reorthogonalise(v, vs, j + 1);
    let beta = norm(v);
    scale = Math.max(scale, beta);
    dimension = j + 1;
    const exhausted = dimension >= full;
    if (exhausted || beta <= breakdownLevel(scale, m, n)) {
      beta = 0;
      if (!exhausted) fillRandomUnitOrthogonal(v, vs, j + 1, random);
    } else {
      scaleInPlace(v, 1 / beta);
    }
    betas[j] = beta;
    if (!exhausted) vs.set(v, (j + 1) * n);

    if (dimension >= nextCheck || exhausted || dimension === maxDimension) {
      estimate = ritzValues(alphas, betas, dimension, wanted, tolerance, exhausted);
      if (estimate.converged || exhausted) break;
      // The small SVD costs O(dimension³) against two products with A per step: check often while cheap.
      nextCheck = dimension + Math.max(1, Math.ceil(dimension / 32));
    }
  }
  if (estimate === undefined) estimate = ritzValues(alphas, betas, dimension, wanted, tolerance, false);
  // A kernel-backed operator (matrixOperator) copied its matrix into the kernels' memory: large memory goes back.
  releaseKernelArrays();
  return estimate;
}

/**
 * The top `k` singular values of `w`, descending (length min(k, rows, cols)).
 * Lanczos bidiagonalisation with float64 vectors; see {@link estimateTopSingularValues}.
 */
export function topSingularValues(w: Matrix, k: number, options: LanczosOptions = {}): Float64Array {
  if (isEmptyMatrix(w)) return new Float64Array(0);
  assertMatrix(w);
  return estimateTopSingularValues(matrixOperator(w), k, options).values;
}

function transposeOperator(operator: LinearOperator): LinearOperator {
  return {
    rows: operator.cols,
    cols: operator.rows,
    multiply: (x, y) => operator.multiplyTranspose(x, y),
    multiplyTranspose: (y, x) => operator.multiply(y, x),
  };
}

function ritzValues(
  alphas: Float64Array,
  betas: Float64Array,
  dimension: number,
  wanted: number,
  tolerance: number,
  exact: boolean,
): SingularValueEstimate {
  const b = MlMatrix.zeros(dimension, dimension);
  for (let i = 0; i < dimension; i++) {
    b.set(i, i, alphas[i]);
    if (i + 1 < dimension) b.set(i, i + 1, betas[i]);
  }
  const svd = new SingularValueDecomposition(b, {
    computeLeftSingularVectors: true,
    computeRightSingularVectors: false,
    autoTranspose: false,
  });
  const diagonal = svd.diagonal;
  const left = svd.leftSingularVectors;
  const order = diagonal.map((_, i) => i).sort((p, q) => diagonal[q] - diagonal[p]);
  const count = Math.min(wanted, dimension);
  const values = new Float64Array(wanted);
  const residuals = new Float64Array(wanted);
  const lastBeta = exact ? 0 : betas[dimension - 1];
  let converged = count === wanted;
  for (let i = 0; i < count; i++) {
    const index = order[i];
    values[i] = Math.max(0, diagonal[index]);
    const residual = Math.abs(lastBeta * left.get(dimension - 1, index));
    // Gap-refined bound |σ − θ| ≤ r²/gap (PROPACK's refinebounds; Parlett, "The Symmetric Eigenvalue
    // Problem", §11-7), with the gap measured to the neighbouring Ritz values.
    // Without a lower Ritz value the gap to the rest of the spectrum is unknown: keep the plain residual.
    let gap = 0;
    if (i + 1 < order.length) {
      gap = diagonal[index] - diagonal[order[i + 1]];
      if (i > 0) gap = Math.min(gap, diagonal[order[i - 1]] - diagonal[index]);
    }
    residuals[i] = gap > residual ? Math.min(residual, (residual * residual) / gap) : residual;
    if (residuals[i] > tolerance * values[i] && residuals[i] > 1e-14 * values[0]) converged = false;
  }
  return { values, residuals, iterations: dimension, converged };
}

function breakdownLevel(scale: number, m: number, n: number): number {
  return scale * 1e-13 * Math.sqrt(Math.max(m, n));
}

/** Two passes of classical Gram–Schmidt of x against the first `count` vectors stored in `basis`. */
function reorthogonalise(x: Float64Array, basis: Float64Array, count: number): void {
  const length = x.length;
  for (let pass = 0; pass < 2; pass++) {
    for (let q = 0; q < count; q++) {
      const offset = q * length;
      let dot = 0;
      for (let i = 0; i < length; i++) dot += basis[offset + i] * x[i];
      for (let i = 0; i < length; i++) x[i] -= dot * basis[offset + i];
    }
  }
}

function fillRandomUnitOrthogonal(x: Float64Array, basis: Float64Array, count: number, random: Random): void {
  for (let attempt = 0; attempt < 8; attempt++) {
    for (let i = 0; i < x.length; i++) x[i] = random.nextGaussian();
    reorthogonalise(x, basis, count);
    const length = norm(x);
    if (length > 1e-8) {
      scaleInPlace(x, 1 / length);
      return;
    }
  }
  x.fill(0);
}

function norm(x: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += x[i] * x[i];
  return Math.sqrt(sum);
}

function scaleInPlace(x: Float64Array, factor: number): void {
  for (let i = 0; i < x.length; i++) x[i] *= factor;
}

function axpy(a: number, x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < y.length; i++) y[i] += a * x[i];
}
