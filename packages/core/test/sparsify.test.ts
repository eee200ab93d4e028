import { describe, expect, it } from 'vitest';
import {
  countNonzero,
  createRandom,
  groupKeep,
  sparsify,
  spectralNormOfDifference,
  type BaseMethodName,
  type Granularity,
  type Matrix,
  type MethodName,
} from '../src/index.js';
import { gaussianMatrix, matrixWithSpectrum, referenceSingularValues } from './helpers.js';

const BASE_METHODS: BaseMethodName[] = ['magnitude', 'l1', 'l2', 'bernstein', 'hybrid'];
const ALL_METHODS: MethodName[] = [...BASE_METHODS, 'spectral'];
const RANDOM_METHODS: BaseMethodName[] = ['l1', 'l2', 'bernstein', 'hybrid'];

function bytesOf(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

describe('exact number of nonzeros (unstructured)', () => {
  const w = gaussianMatrix(37, 53, 1);
  const numel = w.data.length;
  for (const method of ALL_METHODS) {
    it.each([0, 0.1, 0.5, 0.73, 0.9, 0.99])(`${method} at sparsity %s`, (sparsity) => {
      const result = sparsify(w, method, { sparsity, seed: 5, candidateSeeds: 1 });
      const keep = numel - Math.round(sparsity * numel);
      expect(result.nnz).toBe(keep);
      expect(countNonzero(result.data)).toBe(keep);
      expect(result.sparsity).toBeCloseTo((numel - keep) / numel, 12);
    });
  }

  it('keeps only existing nonzeros when asked for more than there are', () => {
    const data = new Float32Array(40);
    for (let i = 0; i < 10; i++) data[i * 4] = i + 1;
    for (const method of BASE_METHODS) {
      const result = sparsify({ data, rows: 5, cols: 8 }, method, { sparsity: 0.5 });
      expect(result.nnz, method).toBe(10);
      expect(Array.from(result.data)).toEqual(Array.from(data));
    }
  });
});

describe('determinism', () => {
  const w = gaussianMatrix(30, 40, 2);
  it.each(ALL_METHODS)('%s: same seed gives identical bytes', (method) => {
    const a = sparsify(w, method, { sparsity: 0.6, seed: 9, candidateSeeds: 2 });
    const b = sparsify(w, method, { sparsity: 0.6, seed: 9, candidateSeeds: 2 });
    expect(bytesOf(a.data).equals(bytesOf(b.data))).toBe(true);
    expect(a.spectralError).toBe(b.spectralError);
  });
  it.each(RANDOM_METHODS)('%s: a different seed gives a different matrix', (method) => {
    const a = sparsify(w, method, { sparsity: 0.6, seed: 1 });
    const b = sparsify(w, method, { sparsity: 0.6, seed: 2 });
    expect(bytesOf(a.data).equals(bytesOf(b.data))).toBe(false);
  });
  it('does not modify its input', () => {
    const copy = w.data.slice();
    for (const method of ALL_METHODS) sparsify(w, method, { sparsity: 0.5, candidateSeeds: 1 });
    expect(bytesOf(w.data).equals(bytesOf(copy))).toBe(true);
  });
});

describe('unbiasedness of the sampling methods: mean over 2000 seeds tends to W', () => {
  // Small matrix with a wide range of magnitudes so that many entries are sampled with π < 1.
  const rows = 5;
  const cols = 6;
  const w = gaussianMatrix(rows, cols, 3);
  for (let i = 0; i < w.data.length; i++) w.data[i] *= 1 + (i % 4);
  const runs = 2000;
  const cases: Array<[BaseMethodName, Granularity]> = [
    ['l1', { kind: 'unstructured' }],
    ['l2', { kind: 'unstructured' }],
    ['bernstein', { kind: 'unstructured' }],
    ['hybrid', { kind: 'unstructured' }],
    ['l2', { kind: 'nm', n: 2, m: 4 }],
    ['hybrid', { kind: 'nm', n: 2, m: 4 }],
    ['l1', { kind: 'block', r: 2, c: 2 }],
    ['bernstein', { kind: 'block', r: 2, c: 2 }],
  ];
  it.each(cases)('%s with %o', (method, granularity) => {
    const sum = new Float64Array(w.data.length);
    const sumSquares = new Float64Array(w.data.length);
    for (let seed = 0; seed < runs; seed++) {
      const { data } = sparsify(w, method, { sparsity: 0.6, seed, granularity, measureSpectralError: false });
      for (let i = 0; i < data.length; i++) {
        sum[i] += data[i];
        sumSquares[i] += data[i] * data[i];
      }
    }
    let sampledEntries = 0;
    for (let i = 0; i < w.data.length; i++) {
      const mean = sum[i] / runs;
      const variance = Math.max(0, sumSquares[i] / runs - mean * mean);
      const standardError = Math.sqrt(variance / runs);
      if (variance > 1e-12) sampledEntries++;
      // 4.5 standard errors: a false alarm over all entries and cases has probability < 1e-3.
      expect(Math.abs(mean - w.data[i]), `entry ${i}`).toBeLessThanOrEqual(4.5 * standardError + 1e-5 * Math.abs(w.data[i]));
    }
    expect(sampledEntries, 'some entries must actually be random').toBeGreaterThan(4);
  });

  it('a sampler without rescaling would fail this check', () => {
    const { data } = sparsify(w, 'l1', { sparsity: 0.6, seed: 0, measureSpectralError: false });
    const rescaled = Array.from(data).filter((value, i) => value !== 0 && value !== w.data[i]);
    expect(rescaled.length).toBeGreaterThan(0);
  });
});

describe('N:M pattern', () => {
  const cases: Array<[number, number, number, number]> = [
    [2, 4, 16, 32],
    [4, 8, 9, 35],
    [1, 4, 7, 10],
    [3, 3, 4, 7],
  ];
  for (const method of ALL_METHODS) {
    it.each(cases)(`${method} %i:%i on %ix%i`, (n, m, rows, cols) => {
      const w = gaussianMatrix(rows, cols, n * 100 + m);
      const result = sparsify(w, method, { sparsity: 0.9, granularity: { kind: 'nm', n, m }, seed: 4, candidateSeeds: 1 });
      let expectedNnz = 0;
      for (let i = 0; i < rows; i++) {
        for (let start = 0; start < cols; start += m) {
          const length = Math.min(m, cols - start);
          let nonzero = 0;
          for (let t = 0; t < length; t++) if (result.data[i * cols + start + t] !== 0) nonzero++;
          expect(nonzero, `row ${i} group at ${start}`).toBeLessThanOrEqual(n);
          expect(nonzero).toBe(groupKeep(n, m, length));
          expectedNnz += nonzero;
        }
      }
      expect(result.nnz).toBe(expectedNnz);
    });
  }

  it('magnitude keeps the largest n of each group', () => {
    const w: Matrix = { rows: 1, cols: 8, data: Float32Array.from([1, -5, 3, 2, 0.5, 0.1, -0.7, 0.6]) };
    const result = sparsify(w, 'magnitude', { sparsity: 0, granularity: { kind: 'nm', n: 2, m: 4 } });
    expect(Array.from(result.data)).toEqual([0, -5, 3, 0, 0, 0, Math.fround(-0.7), Math.fround(0.6)]);
  });
});

describe('block pattern', () => {
  const shapes: Array<[number, number, number, number]> = [
    [16, 24, 4, 4],
    [13, 22, 4, 3],
    [10, 10, 1, 5],
  ];
  for (const method of ALL_METHODS) {
    it.each(shapes)(`${method} on %ix%i with %ix%i blocks`, (rows, cols, r, c) => {
      const w = gaussianMatrix(rows, cols, rows + cols);
      const result = sparsify(w, method, { sparsity: 0.7, granularity: { kind: 'block', r, c }, seed: 6, candidateSeeds: 1 });
      let keptBlocks = 0;
      let blocks = 0;
      for (let bi = 0; bi * r < rows; bi++) {
        for (let bj = 0; bj * c < cols; bj++) {
          blocks++;
          let nonzero = 0;
          let size = 0;
          for (let i = bi * r; i < Math.min(rows, bi * r + r); i++) {
            for (let j = bj * c; j < Math.min(cols, bj * c + c); j++) {
              size++;
              if (result.data[i * cols + j] !== 0) nonzero++;
            }
          }
          expect([0, size], `block ${bi},${bj}`).toContain(nonzero);
          if (nonzero > 0) keptBlocks++;
        }
      }
      const keep = rows * cols - Math.round(0.7 * rows * cols);
      const keptElements = result.nnz;
      if (result.method === 'magnitude') {
        // Blocks taken in norm order whenever they bring the element count closer to the target.
        expect(Math.abs(keptElements - keep)).toBeLessThanOrEqual((r * c) / 2);
      } else {
        // Sampling methods draw exactly round(keep · blocks / numel) blocks.
        expect(keptBlocks).toBe(Math.round((keep * blocks) / (rows * cols)));
      }
    });
  }
});

describe('spectral method on matrices with a prescribed spectrum', () => {
  // 128x256 with a decaying spectrum, as trained layers have.
  const spectrum = Array.from({ length: 128 }, (_, i) => 1 / (1 + i / 4));
  const w = matrixWithSpectrum(128, 256, spectrum, 30);
  const normOfW = referenceSingularValues(w)[0];

  it.each([0.5, 0.7, 0.9])('at sparsity %s it is no worse than magnitude, and its error is measured right', (sparsity) => {
    const magnitude = sparsify(w, 'magnitude', { sparsity });
    const spectral = sparsify(w, 'spectral', { sparsity, seed: 1 });
    expect(spectral.spectralError).toBeLessThanOrEqual(magnitude.spectralError);
    expect(spectral.candidates?.length).toBe(1 + 4 * 3);
    expect(spectral.nnz).toBe(magnitude.nnz);
    // Independent check of the reported error with ml-matrix's SVD of the difference.
    const difference = { rows: 128, cols: 256, data: w.data.map((value, i) => value - spectral.data[i]) };
    const expected = referenceSingularValues(difference)[0] / normOfW;
    expect(Math.abs(spectral.spectralError - expected) / expected).toBeLessThan(1e-3);
    const winner = spectral.candidates!.find((c) => c.spectralError === spectral.spectralError && !c.screenedOut);
    expect(winner?.method).toBe(spectral.method);
    // Screened-out candidates were measured to 1%: even at their best they lose.
    for (const candidate of spectral.candidates!) {
      expect(candidate.spectralError * (candidate.screenedOut ? 1.01 : 1)).toBeGreaterThanOrEqual(spectral.spectralError);
    }
    // A screened-out candidate, measured in full, is indeed worse.
    const loser = spectral.candidates!.find((c) => c.screenedOut);
    if (loser) {
      const full = sparsify(w, loser.method, { sparsity, seed: loser.seed });
      expect(full.spectralError).toBeGreaterThan(spectral.spectralError);
    }
  });

  it('on a wide matrix of small shared offsets plus spikes, sampling beats magnitude clearly', () => {
    // Magnitude pruning drops every small entry, and with them the rank-one offset that dominates ||W||₂;
    // rescaled sampling keeps that offset in expectation.
    const random = createRandom(1);
    const data = new Float32Array(32 * 512);
    for (let i = 0; i < data.length; i++) {
      data[i] = 0.1 + 0.02 * random.nextGaussian() + (random.nextDouble() < 0.1 ? random.nextGaussian() : 0);
    }
    const wide = { data, rows: 32, cols: 512 };
    const magnitude = sparsify(wide, 'magnitude', { sparsity: 0.7 });
    const spectral = sparsify(wide, 'spectral', { sparsity: 0.7 });
    expect(spectral.method).not.toBe('magnitude');
    expect(spectral.spectralError).toBeLessThan(0.75 * magnitude.spectralError);
  });

  it('reports spectralError consistent with spectralNormOfDifference and zero errors for an all-zero W', () => {
    const result = sparsify(w, 'l2', { sparsity: 0.5, seed: 3 });
    const direct = spectralNormOfDifference(w, { ...w, data: result.data }) / normOfW;
    expect(Math.abs(result.spectralError - direct) / direct).toBeLessThan(1e-3);
    expect(Math.abs(result.spectralNorm - normOfW) / normOfW).toBeLessThan(1e-4);
    expect(Math.abs(sparsify(w, 'spectral', { sparsity: 0.5, candidateSeeds: 1 }).spectralNorm - normOfW) / normOfW).toBeLessThan(1e-4);
    const zero = sparsify({ rows: 4, cols: 4, data: new Float32Array(16) }, 'spectral', { sparsity: 0.5 });
    expect(zero.spectralError).toBe(0);
    expect(zero.frobeniusError).toBe(0);
  });
});

describe('option validation', () => {
  const w = gaussianMatrix(4, 4, 1);
  it.each([
    [{ sparsity: 1 }, /Sparsity 1 is out of range/],
    [{ sparsity: -0.1 }, /Sparsity -0.1 is out of range/],
    [{ sparsity: 0.5, seed: -1 }, /Seed -1/],
    [{ sparsity: 0.5, hybridKeepFraction: 2 }, /hybridKeepFraction 2/],
    [{ sparsity: 0.5, granularity: { kind: 'nm', n: 5, m: 4 } as Granularity }, /N=5, M=4/],
  ])('%o is rejected', (options, message) => {
    expect(() => sparsify(w, 'magnitude', options)).toThrow(message);
  });
  it('rejects an unknown method and a bad shape', () => {
    expect(() => sparsify(w, 'random' as MethodName, { sparsity: 0.5 })).toThrow(/Method 'random' is not known/);
    expect(() => sparsify({ rows: 3, cols: 3, data: new Float32Array(8) }, 'l1', { sparsity: 0.5 })).toThrow(RangeError);
  });
});

describe('edge shapes', () => {
  const shapes: Array<[string, Matrix, Granularity]> = [
    ['a single row', gaussianMatrix(1, 50, 1), { kind: 'unstructured' }],
    ['a single column', gaussianMatrix(50, 1, 2), { kind: 'unstructured' }],
    ['N:M with m wider than the row', gaussianMatrix(6, 3, 3), { kind: 'nm', n: 2, m: 8 }],
    ['a block larger than the matrix', gaussianMatrix(3, 5, 4), { kind: 'block', r: 8, c: 8 }],
    ['a 1x1 matrix', gaussianMatrix(1, 1, 5), { kind: 'unstructured' }],
  ];
  for (const method of ALL_METHODS) {
    it.each(shapes)(`${method} on %s`, (_name, w, granularity) => {
      const result = sparsify(w, method, { sparsity: 0.5, granularity, candidateSeeds: 1 });
      expect(result.data.length).toBe(w.data.length);
      expect(Number.isFinite(result.spectralError)).toBe(true);
      expect(result.data.every((value) => Number.isFinite(value))).toBe(true);
    });
  }

  it.each(BASE_METHODS)('%s at sparsity 0 returns the input unchanged', (method) => {
    const w = gaussianMatrix(9, 11, 6);
    const result = sparsify(w, method, { sparsity: 0 });
    expect(bytesOf(result.data).equals(bytesOf(w.data))).toBe(true);
    expect(result.spectralError).toBe(0);
  });
});
