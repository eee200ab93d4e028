import { describe, expect, it } from 'vitest';
import {
  estimateSpectralNormByPower,
  estimateTopSingularValues,
  matrixOperator,
  spectralNorm,
  spectralNormOfDifference,
  topSingularValues,
  type Matrix,
} from '../src/index.js';
import { gaussianMatrix, lowRankMatrix, matrixWithSpectrum, referenceSingularValues } from './helpers.js';

function expectClose(actual: ArrayLike<number>, expected: readonly number[], relative: number): void {
  const scale = expected[0];
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(actual[i] - expected[i]);
    // Relative to the value itself, or to σ₁ for (numerically) zero singular values of rank-deficient input.
    const bound = relative * Math.max(expected[i], 1e-4 * scale);
    expect(error, `singular value ${i}: got ${actual[i]}, want ${expected[i]}`).toBeLessThanOrEqual(bound);
  }
}

describe('topSingularValues against ml-matrix SVD', () => {
  const cases: Array<[string, Matrix, number]> = [
    ['square 40x40', gaussianMatrix(40, 40, 1), 10],
    ['tall 120x30', gaussianMatrix(120, 30, 2), 8],
    ['wide 25x90', gaussianMatrix(25, 90, 3), 8],
    ['all values of wide 12x50', gaussianMatrix(12, 50, 4), 12],
    ['rank-deficient 60x45 rank 5', lowRankMatrix(60, 45, 5, 5), 8],
    ['rank-deficient wide 30x70 rank 3', lowRankMatrix(30, 70, 3, 7), 6],
    ['single row 1x33', gaussianMatrix(1, 33, 9), 1],
    ['single column 17x1', gaussianMatrix(17, 1, 10), 3],
  ];
  it.each(cases)('%s', (_name, w, k) => {
    const expected = referenceSingularValues(w).slice(0, Math.min(k, w.rows, w.cols));
    const actual = topSingularValues(w, k, { tolerance: 1e-10 });
    expect(actual.length).toBe(expected.length);
    expectClose(actual, expected, 1e-6);
  });

  it('finds a prescribed decaying spectrum on a 96x160 matrix', () => {
    const spectrum = Array.from({ length: 96 }, (_, i) => Math.exp(-i / 12));
    const w = matrixWithSpectrum(96, 160, spectrum, 11);
    const actual = topSingularValues(w, 12, { tolerance: 1e-9 });
    // float32 storage perturbs the spectrum by about 1e-7 relative to σ₁.
    expectClose(actual, referenceSingularValues(w).slice(0, 12), 1e-6);
    expectClose(actual, spectrum.slice(0, 12), 1e-5);
  });

  it('reports convergence and is deterministic in its seed', () => {
    const w = gaussianMatrix(200, 150, 12);
    const a = estimateTopSingularValues(matrixOperator(w), 4, { seed: 3 });
    const b = estimateTopSingularValues(matrixOperator(w), 4, { seed: 3 });
    expect(a.converged).toBe(true);
    expect(Array.from(a.values)).toEqual(Array.from(b.values));
  });
});

describe('spectral norms', () => {
  it('spectralNorm matches ml-matrix and power iteration', () => {
    const w = gaussianMatrix(150, 80, 20);
    const expected = referenceSingularValues(w)[0];
    expect(Math.abs(spectralNorm(w) - expected) / expected).toBeLessThan(1e-6);
    const power = estimateSpectralNormByPower(matrixOperator(w), { tolerance: 1e-12, maxIterations: 20000 });
    expect(Math.abs(power - expected) / expected).toBeLessThan(1e-5);
  });

  it('spectralNormOfDifference equals the norm of the materialised difference', () => {
    const a = gaussianMatrix(70, 90, 21);
    const b = gaussianMatrix(70, 90, 22);
    const difference = { rows: 70, cols: 90, data: a.data.map((value, i) => value - b.data[i]) };
    const expected = referenceSingularValues(difference)[0];
    expect(Math.abs(spectralNormOfDifference(a, b) - expected) / expected).toBeLessThan(1e-6);
  });

  it('is zero for a zero matrix and rejects mismatched shapes', () => {
    expect(spectralNorm({ rows: 5, cols: 7, data: new Float32Array(35) })).toBe(0);
    const a = gaussianMatrix(3, 4, 1);
    const b = gaussianMatrix(4, 3, 1);
    expect(() => spectralNormOfDifference(a, b)).toThrow(RangeError);
  });
});
