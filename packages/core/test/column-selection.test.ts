import { describe, expect, it } from 'vitest';
import { createRandom, greedyColumnOrder, productWithGramColumns, reconstructionEnergy, refitFactor, residualProblem, restrictedEnergy, solveRowsWithFactor } from '../src/index.js';

/** X^T X of samples x features (row-major). */
function gram(x: Float64Array, samples: number, features: number): Float64Array {
  const g = new Float64Array(features * features);
  for (let s = 0; s < samples; s++) for (let i = 0; i < features; i++) for (let j = 0; j < features; j++) g[i * features + j]! += x[s * features + i]! * x[s * features + j]!;
  return g;
}

/** tr(W (G − G[:,k] G[k,k]⁻¹ G[k,:]) Wᵀ) for one kept column k: the error a least-squares re-fit on it leaves. */
function errorKeeping(W: Float64Array, rows: number, G: Float64Array, n: number, k: number): number {
  let total = 0;
  for (let m = 0; m < rows; m++) {
    let quad = 0;
    let wg = 0;
    for (let i = 0; i < n; i++) {
      wg += W[m * n + i]! * G[i * n + k]!;
      for (let j = 0; j < n; j++) quad += W[m * n + i]! * G[i * n + j]! * W[m * n + j]!;
    }
    total += quad - (wg * wg) / G[k * n + k]!;
  }
  return total;
}

describe('greedy column subset selection', () => {
  it('the first pick is the column whose least-squares re-fit leaves the least error (brute force over every column)', () => {
    const random = createRandom(5);
    const [samples, n, rows] = [64, 7, 3];
    const x = Float64Array.from({ length: samples * n }, () => random.nextGaussian());
    // Correlated columns, so the best column is not simply the loudest.
    for (let s = 0; s < samples; s++) x[s * n + 3] = 0.9 * x[s * n + 1]! + 0.1 * x[s * n + 3]!;
    const W = Float64Array.from({ length: rows * n }, () => random.nextGaussian());
    const G = gram(x, samples, n);
    const state = residualProblem(W, rows, G, n, Array.from({ length: n }, (_, c) => [c]), [], 0)!;
    const errors = Array.from({ length: n }, (_, k) => errorKeeping(W, rows, G, n, k));
    const best = errors.indexOf(Math.min(...errors));
    expect(greedyColumnOrder([state], n)[0]).toBe(best);
  });

  it('of two identical columns it keeps one, then the independent column (a copy explains nothing more)', () => {
    const random = createRandom(9);
    const samples = 32;
    const x = new Float64Array(samples * 3);
    for (let s = 0; s < samples; s++) {
      x[s * 3] = random.nextGaussian();
      x[s * 3 + 1] = x[s * 3]!;
      x[s * 3 + 2] = 0.2 * (random.nextGaussian());
    }
    const W = Float64Array.from([1, 1, 1]);
    const state = residualProblem(W, 1, gram(x, samples, 3), 3, [[0], [1], [2]], [], 1e-9)!;
    const order = [...greedyColumnOrder([state], 3)];
    // The loud column first (either copy), then the quiet independent one, the other copy last.
    expect([0, 1]).toContain(order[0]);
    expect(order[1]).toBe(2);
  });
});

describe('solveRowsWithFactor', () => {
  for (const n of [6, 300]) {
    it(`solves X (G + λI) = B with the re-fit factor for every row: X (G + λI) gives B back to 1e-9 (${n} columns${n > 256 ? ', past one block of the factor' : ''})`, () => {
      const random = createRandom(3);
      const rows = 5;
      const x = Float64Array.from({ length: (n + 40) * n }, () => random.nextGaussian());
      const G = gram(x, n + 40, n);
      const { u, dampening } = refitFactor(G, n, 1e-3);
      const B = Float64Array.from({ length: rows * n }, () => random.nextGaussian());
      const X = solveRowsWithFactor(B, rows, u, n);
      expect(X.length).toBe(rows * n);
      let diagonal = 0;
      for (let i = 0; i < n; i++) diagonal += G[i * n + i]!;
      const lambda = (dampening * diagonal) / n;
      for (let m = 0; m < rows; m++) {
        for (let j = 0; j < n; j++) {
          let back = lambda * X[m * n + j]!;
          for (let i = 0; i < n; i++) back += X[m * n + i]! * G[i * n + j]!;
          expect(Math.abs(back - B[m * n + j]!)).toBeLessThan(1e-9 * (1 + Math.abs(B[m * n + j]!)));
        }
      }
      expect(() => solveRowsWithFactor(B.subarray(1), rows, u, n)).toThrow(RangeError);
    });
  }
});

describe('productWithGramColumns', () => {
  it('gives W G[:, K] (G symmetric) to 1e-12 of a plain triple loop, for kept columns in any order and more than one block of G rows', () => {
    const random = createRandom(11);
    const [rows, cols] = [7, 301];
    const x = Float64Array.from({ length: 20 * cols }, () => random.nextGaussian());
    const G = gram(x, 20, cols);
    const W = Float64Array.from({ length: rows * cols }, () => random.nextGaussian());
    // 263 kept columns (past one block of 256), unsorted, an odd count.
    const K = Array.from({ length: cols }, (_, j) => j).filter((j) => j % 8 !== 3).reverse();
    expect(K.length).toBe(263);
    const B = productWithGramColumns(W, rows, cols, G, K);
    expect(B.length).toBe(rows * K.length);
    for (let m = 0; m < rows; m++) {
      for (let a = 0; a < K.length; a++) {
        let want = 0;
        for (let j = 0; j < cols; j++) want += W[m * cols + j]! * G[j * cols + K[a]!]!;
        expect(Math.abs(B[m * K.length + a]! - want)).toBeLessThan(1e-12 * (1 + Math.abs(want)) * cols);
      }
    }
    // A packed upper triangle (or a column past the matrix) would read the wrong entries: refused.
    expect(() => productWithGramColumns(W, rows, cols, G.subarray(0, (cols * (cols + 1)) / 2), K)).toThrow(/full 301 x 301 G/);
    expect(() => productWithGramColumns(W, rows, cols, G, [0, cols])).toThrow(RangeError);
  });
});

describe('restrictedEnergy', () => {
  it('gives the energy of a change confined to some columns, ‖Δ X‖², as the full form does (plain loop and reconstructionEnergy), past one kernel batch of rows', () => {
    const random = createRandom(12);
    const [rows, cols] = [37, 90];
    const x = Float64Array.from({ length: 40 * cols }, () => random.nextGaussian());
    const G = gram(x, 40, cols);
    // The changed columns, unsorted; Δ is zero elsewhere (one row entirely).
    const S = Array.from({ length: cols }, (_, j) => j).filter((j) => j % 3 !== 1).reverse();
    const compact = Float64Array.from({ length: rows * S.length }, (_, i) => (Math.floor(i / S.length) === 5 ? 0 : random.nextGaussian()));
    const full = new Float64Array(rows * cols);
    for (let m = 0; m < rows; m++) S.forEach((j, a) => (full[m * cols + j] = compact[m * S.length + a]!));
    let want = 0;
    for (let m = 0; m < rows; m++) for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) want += full[m * cols + i]! * G[i * cols + j]! * full[m * cols + j]!;
    const got = restrictedEnergy(compact, rows, G, cols, S);
    expect(Math.abs(got - want)).toBeLessThan(1e-12 * Math.abs(want));
    // The same as reconstructionEnergy of W = Δ against an all-zero W′ (float32 values, so exact in both).
    const single = Float32Array.from(full);
    const energy = reconstructionEnergy({ rows, cols, data: single }, new Float32Array(rows * cols), G, false).error;
    const compact32 = Float64Array.from({ length: rows * S.length }, (_, i) => single[Math.floor(i / S.length) * cols + S[i % S.length]!]!);
    expect(Math.abs(restrictedEnergy(compact32, rows, G, cols, S) - energy)).toBeLessThan(1e-12 * Math.abs(energy));
    expect(restrictedEnergy(compact, rows, G, cols, [])).toBe(0);
    expect(() => restrictedEnergy(compact, rows, G.subarray(0, 100), cols, S)).toThrow(RangeError);
    expect(() => restrictedEnergy(compact, rows, G, cols, [0, cols])).toThrow(RangeError);
    expect(() => restrictedEnergy(compact.subarray(1), rows, G, cols, S)).toThrow(RangeError);
  });
});
