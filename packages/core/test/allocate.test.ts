import { describe, expect, it } from 'vitest';
import { allocateByCurves, allocateUniform, createRandom, gaussianArray, predictedDamage, type AllocationItem } from '../src/index.js';

function zerosOf(items: readonly AllocationItem[], sparsities: readonly number[]): number {
  return items.reduce((sum, item, i) => sum + Math.round(sparsities[i] * item.numel), 0);
}

describe('allocateUniform', () => {
  it.each([0, 0.3, 0.5, 0.77, 0.95])('gives every item S to within one element at S=%s', (sparsity) => {
    const random = createRandom(1);
    const items = Array.from({ length: 30 }, () => ({ numel: 1 + (random.nextUint32() % 100_000) }));
    const sparsities = allocateUniform(items, sparsity);
    items.forEach((item, i) => {
      const zeros = Math.round(sparsities[i] * item.numel);
      expect(Number.isInteger(zeros)).toBe(true);
      expect(Math.abs(zeros - sparsity * item.numel)).toBeLessThanOrEqual(0.5);
    });
  });
});

describe('allocateByCurves', () => {
  // Damage a_i·s², a_i differing by 100x: the cheap weights should take most of the pruning.
  const coefficients = [1, 10, 100, 3, 30];
  const numels = [1000, 5000, 2000, 777, 12345];
  const items: AllocationItem[] = coefficients.map((a, i) => ({ numel: numels[i], errorAt: (s: number) => a * s * s }));
  const total = numels.reduce((a, b) => a + b, 0);

  it.each([0.1, 0.5, 0.7, 0.9])('meets S=%s exactly and beats uniform', (sparsity) => {
    const sparsities = allocateByCurves(items, sparsity);
    expect(zerosOf(items, sparsities)).toBe(Math.round(sparsity * total));
    for (const s of sparsities) expect(s >= 0 && s < 1).toBe(true);
    const uniform = allocateUniform(items, sparsity);
    expect(predictedDamage(items, sparsities)).toBeLessThan(0.8 * predictedDamage(items, uniform));
  });

  it('is near the true optimum of a two-item problem (brute force over every split)', () => {
    const pair: AllocationItem[] = [
      { numel: 400, errorAt: (s) => Math.pow(s, 1.5) },
      { numel: 600, errorAt: (s) => 4 * s * s },
    ];
    const sparsities = allocateByCurves(pair, 0.6);
    let best = Infinity;
    for (let z0 = 0; z0 <= 400; z0++) {
      const z1 = 600 - z0;
      if (z1 < 0 || z1 > 600) continue;
      best = Math.min(best, predictedDamage(pair, [z0 / 400, z1 / 600]));
    }
    expect(predictedDamage(pair, sparsities)).toBeLessThanOrEqual(best * 1.02);
  });

  it('builds curves from magnitudes and prunes the weight whose small entries are smaller', () => {
    const spread = gaussianArray(5000, 1);
    const flat = new Float32Array(5000).fill(1);
    const sparsities = allocateByCurves([{ numel: 5000, magnitudes: spread }, { numel: 5000, magnitudes: flat }], 0.5);
    expect(sparsities[0]).toBeGreaterThan(sparsities[1]);
    expect(Math.round(sparsities[0] * 5000) + Math.round(sparsities[1] * 5000)).toBe(5000);
  });

  it('weighting by numel shifts pruning away from large weights', () => {
    const equalCurves: AllocationItem[] = [
      { numel: 100, errorAt: (s) => s * s },
      { numel: 10_000, errorAt: (s) => s * s },
    ];
    const plain = allocateByCurves(equalCurves, 0.5);
    const weighted = allocateByCurves(equalCurves, 0.5, { weighting: 'numel' });
    expect(plain[1]).toBeGreaterThan(plain[0]);
    expect(Math.abs(weighted[0] - weighted[1])).toBeLessThan(0.05);
  });

  it('meets targets above the last grid point and rejects bad input', () => {
    const sparsities = allocateByCurves(items, 0.999);
    expect(zerosOf(items, sparsities)).toBe(Math.round(0.999 * total));
    expect(() => allocateByCurves([{ numel: 5 }], 0.5)).toThrow(/neither errorAt nor magnitudes/);
    expect(() => allocateByCurves(items, 1)).toThrow(/Sparsity 1 is out of range/);
    expect(() => allocateByCurves(items, 0.5, { grid: [0, 0.5, 0.4] })).toThrow(/ascending/);
  });
});

describe('measureErrorCurve', () => {
  it('measures spectral error at each grid point, interpolates between, and feeds allocateByCurves', async () => {
    const { measureErrorCurve, sparsify } = await import('../src/index.js');
    const { gaussianMatrix, matrixWithSpectrum } = await import('./helpers.js');
    const noisy = gaussianMatrix(40, 60, 1);
    const lowRank = matrixWithSpectrum(40, 60, Array.from({ length: 40 }, (_, i) => (i < 3 ? 10 : 0.01)), 2);
    const curve = measureErrorCurve(noisy, { sparsities: [0.25, 0.5, 0.75], tolerance: 1e-6 });
    expect(curve.sparsities).toEqual([0, 0.25, 0.5, 0.75]);
    expect(curve.errorAt(0)).toBe(0);
    expect(curve.errorAt(0.5)).toBeCloseTo(sparsify(noisy, 'magnitude', { sparsity: 0.5 }).spectralError, 3);
    expect(curve.errorAt(0.375)).toBeCloseTo((curve.errors[1] + curve.errors[2]) / 2, 12);
    expect(curve.errorAt(1)).toBeGreaterThanOrEqual(1);
    const items = [noisy, lowRank].map((w) => ({ numel: w.data.length, errorAt: measureErrorCurve(w).errorAt }));
    const sparsities = allocateByCurves(items, 0.5);
    expect(Math.round(sparsities[0] * 2400) + Math.round(sparsities[1] * 2400)).toBe(2400);
    expect(predictedDamage(items, sparsities)).toBeLessThanOrEqual(predictedDamage(items, allocateUniform(items, 0.5)));
    expect(() => measureErrorCurve(noisy, { sparsities: [0.5, 0.4] })).toThrow(/ascending/);
  });
});

describe('allocateGlobal', () => {
  it.each([0, 0.25, 0.5, 0.9])('zeroes the round(S·total) smallest magnitudes over all items at S=%s, ties kept in item order', async (sparsity) => {
    const { allocateGlobal, applyMagnitudeThreshold, magnitudeThreshold } = await import('../src/index.js');
    const random = createRandom(7);
    // Quarter-step values: many ties at every threshold, and a NaN (counted as the largest magnitude).
    const arrays = [40, 1, 333, 0, 128].map((n) => Float32Array.from({ length: n }, () => Math.round(random.nextGaussian() * 4) / 4));
    arrays[2][5] = Number.NaN;
    const items = arrays.map((magnitudes) => ({ numel: magnitudes.length, magnitudes }));
    const zeros = allocateGlobal(items, sparsity).map((s, i) => Math.round(s * items[i].numel));
    const total = arrays.reduce((sum, a) => sum + a.length, 0);
    expect(zeros.reduce((a, b) => a + b, 0)).toBe(Math.round(sparsity * total));
    // The same count, weight by weight, as applying the one threshold.
    const threshold = magnitudeThreshold(arrays, total - Math.round(sparsity * total));
    const kept = applyMagnitudeThreshold(arrays, threshold, arrays.map((a) => new Float32Array(a.length)));
    expect(zeros).toEqual(arrays.map((a, i) => a.length - kept[i]));
    expect(() => allocateGlobal([{ numel: 3 }], 0.5)).toThrow(/needs its 3 values as magnitudes/);
  });
});

describe('allocateByCurves with fixed items and a trust region', () => {
  const curve = (a: number) => (s: number) => a * s * s;
  it('gives a fixed item its sparsity, shares the rest of the budget, and keeps the total exact', () => {
    const items: AllocationItem[] = [
      { numel: 1000, errorAt: curve(1) },
      { numel: 501, fixedSparsity: 0.5 },
      { numel: 2000, errorAt: curve(10) },
    ];
    const sparsities = allocateByCurves(items, 0.5);
    expect(Math.round(sparsities[1] * 501)).toBe(Math.round(0.5 * 501));
    expect(zerosOf(items, sparsities)).toBe(Math.round(0.5 * 3501));
    expect(sparsities[0]).toBeGreaterThan(sparsities[2]);
  });
  it('keeps every free item at or below its maxSparsity when the target fits, and exceeds it only when it must', () => {
    const items: AllocationItem[] = [
      { numel: 999, errorAt: curve(0.001), maxSparsity: 0.45 },
      { numel: 1000, errorAt: curve(100), maxSparsity: 0.45 },
    ];
    const capped = allocateByCurves(items, 0.3);
    // Unbounded, the cheap item would take nearly everything; capped, it stops at its whole-element limit.
    expect(allocateByCurves(items.map((i) => ({ ...i, maxSparsity: undefined })), 0.3)[0]).toBeGreaterThan(0.55);
    expect(capped[0]).toBeLessThanOrEqual(0.45);
    expect(capped[1]).toBeLessThanOrEqual(0.45);
    expect(zerosOf(items, capped)).toBe(Math.round(0.3 * 1999));
    const over = allocateByCurves(items, 0.6);
    expect(zerosOf(items, over)).toBe(Math.round(0.6 * 1999));
  });
  it('settles the total when fixed items alone exceed the budget', () => {
    const items: AllocationItem[] = [
      { numel: 3, fixedSparsity: 0.5 },
      { numel: 3, fixedSparsity: 0.5 },
      { numel: 3, fixedSparsity: 0.5 },
      { numel: 10, errorAt: curve(1) },
    ];
    expect(zerosOf(items, allocateByCurves(items, 0.3))).toBe(Math.round(0.3 * 19));
  });
});

describe('interpolateCurve', () => {
  it('is exact at the samples, linear between, flat below and continues the last non-falling slope past the end', async () => {
    const { interpolateCurve } = await import('../src/index.js');
    const grid = [0, 0.3, 0.5, 0.7, 0.9];
    const values = [0, 0.1, 0.4, 0.5, 1.3];
    grid.forEach((x, k) => expect(interpolateCurve(grid, values, x)).toBeCloseTo(values[k], 15));
    expect(interpolateCurve(grid, values, 0.4)).toBeCloseTo(0.25, 15);
    expect(interpolateCurve(grid, values, -1)).toBe(0);
    expect(interpolateCurve(grid, values, 0.95)).toBeCloseTo(1.3 + 4 * 0.05, 12);
    expect(interpolateCurve([0, 0.5, 0.9], [0, 0.5, 0.4], 1)).toBeCloseTo(0.4, 15);
    expect(interpolateCurve([0.5], [2], 0.9)).toBe(2);
    expect(() => interpolateCurve([], [], 0.5)).toThrow(/at least one/);
    expect(() => interpolateCurve([0, 1], [0], 0.5)).toThrow(/as many values as grid points/);
  });
  it('is the curve of magnitudeErrorCurve: 0 at 0, 1 at 1, rising in between', async () => {
    const { magnitudeErrorCurve } = await import('../src/index.js');
    const curve = magnitudeErrorCurve(gaussianArray(10_000, 4));
    expect(curve(0)).toBe(0);
    expect(curve(1)).toBeCloseTo(1, 12);
    const xs = Array.from({ length: 101 }, (_, i) => i / 100);
    const ys = xs.map(curve);
    for (let i = 1; i < ys.length; i++) expect(ys[i]).toBeGreaterThanOrEqual(ys[i - 1]);
  });
});
