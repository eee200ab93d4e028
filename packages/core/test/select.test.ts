import { describe, expect, it } from 'vitest';
import { applyMagnitudeThreshold, createRandom, gaussianArray, magnitudeThreshold, nthSmallest } from '../src/index.js';

/** Reference: indices of the keep largest |w| by a full sort, ties to the earlier (array, index). */
function referenceKept(arrays: Float32Array[], keep: number): Set<string> {
  const all: Array<[number, number, number]> = [];
  arrays.forEach((array, a) => array.forEach((value, i) => all.push([Math.abs(value), a, i])));
  all.sort((p, q) => q[0] - p[0] || p[1] - q[1] || p[2] - q[2]);
  return new Set(all.slice(0, keep).map(([, a, i]) => `${a}:${i}`));
}

describe('magnitudeThreshold', () => {
  it.each([0, 1, 17, 500, 999, 1000])('keeps exactly %i of 1000 values with heavy ties, the same set as a sort', (keep) => {
    const random = createRandom(keep);
    // Values from a small set (many exact ties), both signs, zeros and negative zeros.
    const pool = [0, -0, 0.5, -0.5, 1, -1, 2, 1e-30, -3.25, 3.25];
    const arrays = [300, 0, 450, 250].map((length) => Float32Array.from({ length }, () => pool[random.nextUint32() % pool.length]));
    const t = magnitudeThreshold(arrays, keep);
    expect(t.keep).toBe(keep);
    const targets = arrays.map((a) => new Float32Array(a.length).fill(NaN));
    const kept = applyMagnitudeThreshold(arrays, t, targets);
    expect(kept.reduce((a, b) => a + b, 0)).toBe(keep);
    const expected = referenceKept(arrays, keep);
    arrays.forEach((array, a) => {
      for (let i = 0; i < array.length; i++) {
        const shouldKeep = expected.has(`${a}:${i}`);
        expect(Object.is(targets[a][i], shouldKeep ? array[i] : 0), `array ${a} index ${i}`).toBe(true);
      }
    });
  });

  it('finds the exact k-th largest magnitude of Gaussian data', () => {
    const data = gaussianArray(100_001, 3);
    const sorted = Array.from(data, Math.abs).sort((a, b) => b - a);
    for (const keep of [1, 50_000, 100_000]) {
      const t = magnitudeThreshold([data], keep);
      expect(t.threshold).toBe(sorted[keep - 1]);
      expect(t.above + t.tiesKept).toBe(keep);
    }
  });

  it('works in place and rejects a bad count', () => {
    const data = Float32Array.from([3, -1, 2, -4]);
    applyMagnitudeThreshold([data], magnitudeThreshold([data], 2));
    expect(Array.from(data)).toEqual([3, 0, 0, -4]);
    expect(() => magnitudeThreshold([data], 5)).toThrow(/keep 5 is out of range/);
    expect(() => magnitudeThreshold([data], 1.5)).toThrow(RangeError);
  });

  it('counts NaN as the largest magnitude and Infinity above finite values', () => {
    const data = Float32Array.from([1, NaN, Infinity, -2]);
    const out = new Float32Array(4);
    applyMagnitudeThreshold([data], magnitudeThreshold([data], 2), [out]);
    expect(Array.from(out)).toEqual([0, NaN, Infinity, 0]);
  });
});

describe('nthSmallest', () => {
  it('gives the value a sort gives at every rank, with duplicates, zeros of both signs and NaN last', () => {
    const random = createRandom(3);
    for (const length of [1, 2, 17, 100, 1000]) {
      const values = Float64Array.from({ length }, (_, i) => (i % 7 === 0 ? Math.round(random.nextDouble() * 5) : i % 11 === 0 ? Number.NaN : i % 13 === 0 ? -0 : random.nextGaussian()));
      const sorted = Float64Array.from(values).sort();
      for (const n of [0, Math.floor(length / 3), Math.floor(length / 2), length - 1]) {
        const got = nthSmallest(Float64Array.from(values), n);
        if (Number.isNaN(sorted[n]!)) expect(got).toBeNaN();
        // -0 and +0 share a rank, so either may come back where a sort has one of them.
        else if (sorted[n] === 0) expect(got === 0).toBe(true);
        else expect(got).toBe(sorted[n]);
      }
    }
    expect(() => nthSmallest(new Float64Array(3), 3)).toThrow(/out of range/);
  });
});
