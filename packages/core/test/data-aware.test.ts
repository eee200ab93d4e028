import { Matrix as MlMatrix, inverse } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import {
  accumulateColumnInputs,
  accumulateConvInputs,
  accumulateInputs,
  accumulateRowInputs,
  createInputStats,
  createRandom,
  finishInputStats,
  groupGram,
  groupNorms,
  inverseUpperCholesky,
  packInputStats,
  reconstructionError,
  refitPrune,
  sparsify,
  wandaPrune,
  type ConvGeometry,
  type Matrix,
} from '../src/index.js';
import { gaussianMatrix } from './helpers.js';

/** Direct 2-D convolution (NCHW, weight [out, in/g, kh, kw]) as the oracle for the im2col statistics. */
function conv2d(x: Float32Array, shape: number[], w: Float32Array, wShape: number[], g: Required<Omit<ConvGeometry, 'autoPad' | 'kernel'>>): { y: Float64Array; outH: number; outW: number } {
  const [n, c, h, wd] = shape as [number, number, number, number];
  const [o, cg, kh, kw] = wShape as [number, number, number, number];
  const [sh, sw] = g.strides as [number, number];
  const [dh, dw] = g.dilations as [number, number];
  const [pt, pl, pb, pr] = g.pads as [number, number, number, number];
  const outH = Math.floor((h + pt + pb - dh * (kh - 1) - 1) / sh) + 1;
  const outW = Math.floor((wd + pl + pr - dw * (kw - 1) - 1) / sw) + 1;
  const y = new Float64Array(n * o * outH * outW);
  const og = o / g.group;
  for (let b = 0; b < n; b++)
    for (let oc = 0; oc < o; oc++) {
      const grp = Math.floor(oc / og);
      for (let oy = 0; oy < outH; oy++)
        for (let ox = 0; ox < outW; ox++) {
          let s = 0;
          for (let ci = 0; ci < cg; ci++)
            for (let i = 0; i < kh; i++)
              for (let j = 0; j < kw; j++) {
                const yy = oy * sh - pt + i * dh;
                const xx = ox * sw - pl + j * dw;
                if (yy < 0 || yy >= h || xx < 0 || xx >= wd) continue;
                s += w[((oc * cg + ci) * kh + i) * kw + j]! * x[((b * c + grp * cg + ci) * h + yy) * wd + xx]!;
              }
          y[((b * o + oc) * outH + oy) * outW + ox] = s;
        }
    }
  return { y, outH, outW };
}

function randomArray(n: number, seed: number): Float32Array {
  const r = createRandom(seed);
  return Float32Array.from({ length: n }, () => r.nextGaussian());
}

/** Σ over groups and rows of wᵣᵀ G wᵣ: ‖W X‖² from the statistics. */
function energyFromGram(w: Float32Array, rows: number, cols: number, groups: number, gramOf: (g: number) => Float64Array): number {
  let total = 0;
  const perGroup = rows / groups;
  for (let r = 0; r < rows; r++) {
    const g = gramOf(Math.floor(r / perGroup));
    for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) total += w[r * cols + i]! * g[i * cols + j]! * w[r * cols + j]!;
  }
  return total;
}

describe('input statistics', () => {
  const cases: Array<{ title: string; shape: number[]; wShape: number[]; geometry: Required<Omit<ConvGeometry, 'autoPad' | 'kernel'>> }> = [
    { title: 'plain 3x3, pad 1', shape: [2, 3, 7, 6], wShape: [4, 3, 3, 3], geometry: { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1 } },
    { title: 'stride 2, uneven pads, dilation 2', shape: [1, 4, 9, 8], wShape: [5, 4, 3, 2], geometry: { strides: [2, 1], pads: [0, 1, 2, 0], dilations: [2, 1], group: 1 } },
    { title: 'depthwise 5x5', shape: [1, 6, 8, 8], wShape: [6, 1, 5, 5], geometry: { strides: [1, 1], pads: [2, 2, 2, 2], dilations: [1, 1], group: 6 } },
    { title: 'two groups, 1x3', shape: [2, 4, 1, 11], wShape: [6, 2, 1, 3], geometry: { strides: [1, 2], pads: [0, 1, 0, 1], dilations: [1, 1], group: 2 } },
    // 1x1 over every position: the planes are the vectors' columns (no im2col); batch 2, more positions than a batch.
    { title: 'pointwise 1x1', shape: [2, 5, 17, 19], wShape: [7, 5, 1, 1], geometry: { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 } },
    { title: 'pointwise 1x1, two groups', shape: [1, 6, 4, 5], wShape: [4, 3, 1, 1], geometry: { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 2 } },
    { title: '1x1 with stride 2 (im2col path)', shape: [1, 3, 6, 6], wShape: [2, 3, 1, 1], geometry: { strides: [2, 2], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 } },
  ];
  for (const c of cases) {
    it(`conv patches reproduce ‖conv(X, W)‖² through the Gram matrix: ${c.title}`, () => {
      const x = randomArray(c.shape.reduce((a, b) => a * b, 1), 1);
      const w = randomArray(c.wShape.reduce((a, b) => a * b, 1), 2);
      const cols = c.wShape[1]! * c.wShape[2]! * c.wShape[3]!;
      const stats = createInputStats(cols, c.geometry.group, true);
      accumulateConvInputs(stats, x, c.shape, { kernel: [c.wShape[2]!, c.wShape[3]!], ...c.geometry });
      finishInputStats(stats);
      const { y } = conv2d(x, c.shape, w, c.wShape, c.geometry);
      const direct = y.reduce((s, v) => s + v * v, 0);
      expect(energyFromGram(w, c.wShape[0]!, cols, c.geometry.group, (g) => groupGram(stats, g)) / direct).toBeCloseTo(1, 5);
      // Norms are the Gram diagonal.
      for (let g = 0; g < c.geometry.group; g++) {
        const norms = groupNorms(stats, g);
        for (let j = 0; j < cols; j++) expect(norms[j]! ** 2).toBeCloseTo(groupGram(stats, g)[j * cols + j]!, 3);
      }
    });
  }

  it('SAME_UPPER padding gives ceil(size / stride) outputs', () => {
    const stats = createInputStats(9, 1, true);
    accumulateConvInputs(stats, new Float32Array(1 * 1 * 5 * 5).fill(1), [1, 1, 5, 5], { kernel: [3, 3], strides: [2, 2], autoPad: 'SAME_UPPER' });
    expect(stats.count).toBe(9);
  });

  it('row and column vectors: Gram equals XᵀX of the vectors', () => {
    const x = randomArray(5 * 3, 3); // 5 rows of 3
    const rows = createInputStats(3, 1, true);
    accumulateRowInputs(rows, x);
    finishInputStats(rows);
    const cols = createInputStats(5, 1, true);
    accumulateColumnInputs(cols, x, 3); // [5, 3]: 3 columns of length 5
    finishInputStats(cols);
    const m = MlMatrix.from1DArray(5, 3, Array.from(x));
    const xtx = m.transpose().mmul(m);
    const xxt = m.mmul(m.transpose());
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) expect(groupGram(rows, 0)[i * 3 + j]).toBeCloseTo(xtx.get(i, j), 5);
    for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) expect(groupGram(cols, 0)[i * 5 + j]).toBeCloseTo(xxt.get(i, j), 5);
    expect(rows.count).toBe(5);
    expect(cols.count).toBe(3);
  });
});

/** Plain im2col of one sample, group by group: the receptive fields in the weight's column order, zeros for padding. */
function patches(x: Float32Array, shape: readonly number[], g: { kernel: number[]; strides: number[]; pads: number[]; dilations: number[]; group: number }, group: number, n: number): { vectors: Float32Array; count: number } {
  const [, channels, height, width] = shape as [number, number, number, number];
  const per = channels / g.group;
  const [kh, kw] = g.kernel as [number, number];
  const outH = Math.floor((height + g.pads[0]! + g.pads[2]! - g.dilations[0]! * (kh - 1) - 1) / g.strides[0]!) + 1;
  const outW = Math.floor((width + g.pads[1]! + g.pads[3]! - g.dilations[1]! * (kw - 1) - 1) / g.strides[1]!) + 1;
  const vectors: number[] = [];
  for (let oh = 0; oh < outH; oh++) {
    for (let ow = 0; ow < outW; ow++) {
      for (let c = 0; c < per; c++) {
        for (let i = 0; i < kh; i++) {
          for (let j = 0; j < kw; j++) {
            const y = oh * g.strides[0]! - g.pads[0]! + i * g.dilations[0]!;
            const xx = ow * g.strides[1]! - g.pads[1]! + j * g.dilations[1]!;
            const inside = y >= 0 && y < height && xx >= 0 && xx < width;
            vectors.push(inside ? x[((n * channels + group * per + c) * height + y) * width + xx]! : 0);
          }
        }
      }
    }
  }
  return { vectors: Float32Array.from(vectors), count: outH * outW };
}

describe('convolution patches', () => {
  it('written straight into the pending batches equal plain im2col vectors accumulated as rows, bit for bit', () => {
    const cases = [
      { shape: [2, 3, 7, 6], geometry: { kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1 } },
      { shape: [1, 4, 9, 8], geometry: { kernel: [3, 2], strides: [2, 1], pads: [0, 1, 2, 0], dilations: [2, 1], group: 1 } },
      // Depthwise over more positions than a batch holds (folds mid-sample), as the PP-OCRv4 recogniser's.
      { shape: [1, 6, 12, 40], geometry: { kernel: [5, 5], strides: [1, 1], pads: [2, 2, 2, 2], dilations: [1, 1], group: 6 } },
      { shape: [2, 4, 1, 11], geometry: { kernel: [1, 3], strides: [1, 2], pads: [0, 1, 0, 1], dilations: [1, 1], group: 2 } },
    ];
    for (const [k, c] of cases.entries()) {
      const cols = (c.shape[1]! / c.geometry.group) * c.geometry.kernel[0]! * c.geometry.kernel[1]!;
      const fused = createInputStats(cols, c.geometry.group, true, { packed: true });
      const rows = createInputStats(cols, c.geometry.group, true, { packed: true });
      for (let sample = 0; sample < 3; sample++) {
        const x = randomArray(c.shape.reduce((a, b) => a * b, 1), 10 * k + sample);
        accumulateConvInputs(fused, x, c.shape, c.geometry);
        for (let g = 0; g < c.geometry.group; g++) {
          for (let n = 0; n < c.shape[0]!; n++) {
            const { vectors, count } = patches(x, c.shape, c.geometry, g, n);
            accumulateInputs(rows, g, vectors, count);
          }
        }
      }
      packInputStats(fused);
      packInputStats(rows);
      expect(fused.count, `case ${k}`).toBe(rows.count);
      expect(Buffer.from(fused.sumSquares.buffer).equals(Buffer.from(rows.sumSquares.buffer)), `case ${k}: norms`).toBe(true);
      expect(Buffer.from(fused.gram!.buffer).equals(Buffer.from(rows.gram!.buffer)), `case ${k}: Gram`).toBe(true);
    }
  });
});

describe('packed statistics', () => {
  it('hold each group\'s upper triangle and give back the same Gram matrices, bit for bit', () => {
    for (const [cols, groups] of [[1, 1], [7, 2], [130, 1], [33, 3]] as const) {
      const stats = createInputStats(cols, groups, true);
      for (let g = 0; g < groups; g++) accumulateInputs(stats, g, randomArray(300 * cols, cols + g), 300);
      finishInputStats(stats);
      const full = Array.from({ length: groups }, (_, g) => groupGram(stats, g).slice());
      packInputStats(stats);
      expect(stats.packed).toBe(true);
      expect(stats.gram!.length).toBe((groups * cols * (cols + 1)) / 2);
      for (let g = 0; g < groups; g++) expect(groupGram(stats, g)).toEqual(full[g]);
      packInputStats(stats); // idempotent
      finishInputStats(stats); // a no-op once packed
      for (let g = 0; g < groups; g++) expect(groupGram(stats, g)).toEqual(full[g]);
    }
  });

  it('accumulated packed from the first sample equal full matrices packed afterwards, bit for bit (rows, 1x1 and 3x3 convolutions, more inputs after a pack)', () => {
    const cases: Array<{ shape: number[]; geometry?: ConvGeometry; cols: number; groups: number }> = [
      { shape: [3, 40, 13], cols: 13, groups: 1 },
      { shape: [2, 6, 5, 7], geometry: { kernel: [1, 1], group: 2 }, cols: 3, groups: 2 },
      { shape: [1, 9, 8, 8], geometry: { kernel: [3, 3], pads: [1, 1, 1, 1] }, cols: 81, groups: 1 },
      { shape: [1, 130, 6, 6], geometry: { kernel: [1, 1] }, cols: 130, groups: 1 },
    ];
    for (const [n, c] of cases.entries()) {
      const full = createInputStats(c.cols, c.groups, true);
      const packed = createInputStats(c.cols, c.groups, true, { packed: true });
      expect(packed.packed).toBe(true);
      expect(packed.gram!.length).toBe((c.groups * c.cols * (c.cols + 1)) / 2);
      for (let sample = 0; sample < 3; sample++) {
        const x = randomArray(c.shape.reduce((a, b) => a * b, 1), 100 * n + sample);
        for (const stats of [full, packed]) {
          if (c.geometry) accumulateConvInputs(stats, x, c.shape, c.geometry);
          else accumulateRowInputs(stats, x);
        }
        // Packed statistics take more inputs after a pack (both fold their buffered vectors here, so the sums
        // are formed in the same batches).
        if (sample === 1) {
          packInputStats(packed);
          finishInputStats(full);
        }
      }
      packInputStats(full);
      packInputStats(packed);
      expect(packed.count).toBe(full.count);
      expect(packed.sumSquares).toEqual(full.sumSquares);
      expect(packed.gram).toEqual(full.gram);
      for (let g = 0; g < c.groups; g++) expect(groupGram(packed, g)).toEqual(groupGram(full, g));
    }
  });

  it('pack what is still buffered first', () => {
    const x = randomArray(40 * 6, 5);
    const a = createInputStats(6, 1, true);
    const b = createInputStats(6, 1, true);
    accumulateInputs(a, 0, x, 40);
    accumulateInputs(b, 0, x, 40);
    finishInputStats(a);
    packInputStats(b);
    expect(groupGram(b, 0)).toEqual(groupGram(a, 0).slice());
  });
});

describe('Gram accumulation across batches', () => {
  it('equals XᵀX in float64 for odd widths, partial batches, and vectors added after a finish', () => {
    for (const cols of [1, 2, 5, 11, 130]) {
      const count = 300; // two full batches of 128 and a partial one
      const x = randomArray(count * cols, cols);
      const stats = createInputStats(cols, 1, true);
      accumulateInputs(stats, 0, x.subarray(0, 100 * cols), 100);
      accumulateInputs(stats, 0, x.subarray(100 * cols, 250 * cols), 150);
      finishInputStats(stats);
      finishInputStats(stats); // idempotent
      accumulateInputs(stats, 0, x.subarray(250 * cols), 50);
      finishInputStats(stats);
      const gram = groupGram(stats, 0);
      let worst = 0;
      for (let i = 0; i < cols; i++) {
        for (let j = 0; j < cols; j++) {
          let direct = 0;
          for (let v = 0; v < count; v++) direct += x[v * cols + i]! * x[v * cols + j]!;
          worst = Math.max(worst, Math.abs(gram[i * cols + j]! - direct) / (Math.abs(direct) + 1));
          expect(gram[i * cols + j], `${cols}: ${i},${j} symmetric`).toBe(gram[j * cols + i]);
        }
      }
      expect(worst, `cols ${cols}`).toBeLessThan(1e-9);
      expect(stats.count).toBe(count);
    }
  });
});

/** Correlated inputs with very different column scales, as real activations are. */
function calibration(cols: number, samples: number, seed: number): { gram: Float64Array; x: Float32Array } {
  const mix = gaussianMatrix(cols, cols, seed);
  const z = gaussianMatrix(samples, cols, seed + 1);
  const x = new Float32Array(samples * cols);
  for (let s = 0; s < samples; s++)
    for (let j = 0; j < cols; j++) {
      let v = 0;
      for (let k = 0; k < cols; k++) v += z.data[s * cols + k]! * mix.data[k * cols + j]! * (k < cols / 4 ? 3 : 0.3);
      x[s * cols + j] = v * (1 + (j % 5));
    }
  const stats = createInputStats(cols, 1, true);
  accumulateRowInputs(stats, x);
  finishInputStats(stats);
  return { gram: stats.gram!, x };
}

describe('data-aware pruning', () => {
  it('inverseUpperCholesky: UᵀU is the inverse of the dampened Gram matrix', () => {
    const { gram } = calibration(12, 40, 5);
    const u = inverseUpperCholesky(gram, 12, 0.01)!;
    const h = MlMatrix.from1DArray(12, 12, Array.from(gram));
    const mean = h.diag().reduce((a, b) => a + b, 0) / 12;
    for (let i = 0; i < 12; i++) h.set(i, i, h.get(i, i) + 0.01 * mean);
    const um = MlMatrix.from1DArray(12, 12, Array.from(u));
    const product = um.transpose().mmul(um);
    const inv = inverse(h);
    for (let i = 0; i < 12; i++) {
      for (let j = 0; j < 12; j++) {
        if (j < i) expect(u[i * 12 + j]).toBe(0);
        expect(product.get(i, j)).toBeCloseTo(inv.get(i, j), 6);
      }
    }
  });

  for (const granularity of [{ kind: 'unstructured' as const }, { kind: 'nm' as const, n: 2, m: 4 }, { kind: 'block' as const, r: 2, c: 2 }]) {
    it(`re-fit lowers the calibration reconstruction error below magnitude and Wanda (${granularity.kind})`, () => {
      const w: Matrix = gaussianMatrix(24, 32, 11);
      const { gram } = calibration(32, 200, 12);
      const zeros = 0.5 * w.data.length;
      const magnitude = sparsify(w, 'magnitude', { sparsity: 0.5, granularity, measureSpectralError: false }).data;
      const stats = { norms: new Float64Array(32).map((_, j) => Math.sqrt(gram[j * 32 + j]!)) };
      const wanda = wandaPrune(w, stats.norms, zeros, granularity);
      const { data: refit } = refitPrune(w, gram, { zeros, granularity });
      const errors = { magnitude: reconstructionError(w, magnitude, gram), wanda: reconstructionError(w, wanda, gram), refit: reconstructionError(w, refit, gram) };
      expect(errors.wanda).toBeLessThan(errors.magnitude);
      expect(errors.refit).toBeLessThan(0.8 * errors.wanda);
      const zerosOf = (a: Float32Array) => a.reduce((s, v) => s + (v === 0 ? 1 : 0), 0);
      if (granularity.kind === 'unstructured') {
        expect(zerosOf(refit)).toBe(zeros);
        expect(zerosOf(wanda)).toBe(zeros);
        // Wanda: every row gets the same share.
        for (let r = 0; r < 24; r++) expect(zerosOf(wanda.subarray(r * 32, (r + 1) * 32))).toBe(16);
      }
      if (granularity.kind === 'nm') {
        for (const out of [refit, wanda]) for (let g = 0; g < out.length; g += 4) expect(zerosOf(out.subarray(g, g + 4))).toBeGreaterThanOrEqual(2);
      }
      if (granularity.kind === 'block') {
        for (let r = 0; r < 24; r += 2)
          for (let c = 0; c < 32; c += 2) {
            const tile = [refit[r * 32 + c], refit[r * 32 + c + 1], refit[(r + 1) * 32 + c], refit[(r + 1) * 32 + c + 1]];
            // Whole tiles are dropped; a kept tile has no zero (re-fitted values are never exactly 0 here).
            expect([0, 4]).toContain(tile.filter((v) => v === 0).length);
          }
        expect(Math.abs(zerosOf(refit) - zeros)).toBeLessThanOrEqual(4 * 16);
      }
    });
  }

  it('re-fit with a full-rank Gram matrix and no pruning changes nothing', () => {
    const w = gaussianMatrix(4, 6, 3);
    const { gram } = calibration(6, 50, 4);
    const { data } = refitPrune(w, gram, { zeros: 0 });
    for (let i = 0; i < data.length; i++) expect(data[i]).toBeCloseTo(w.data[i]!, 5);
  });

  it('reconstruction error equals ‖(W − W′)X‖ / ‖W X‖ computed directly', () => {
    const w = gaussianMatrix(5, 8, 21);
    const { gram, x } = calibration(8, 30, 22);
    const pruned = sparsify(w, 'magnitude', { sparsity: 0.5, measureSpectralError: false }).data;
    let num = 0;
    let den = 0;
    for (let s = 0; s < 30; s++)
      for (let r = 0; r < 5; r++) {
        let a = 0;
        let b = 0;
        for (let j = 0; j < 8; j++) {
          a += w.data[r * 8 + j]! * x[s * 8 + j]!;
          b += pruned[r * 8 + j]! * x[s * 8 + j]!;
        }
        num += (a - b) ** 2;
        den += a * a;
      }
    expect(reconstructionError(w, pruned, gram)).toBeCloseTo(Math.sqrt(num / den), 4);
  });
});
