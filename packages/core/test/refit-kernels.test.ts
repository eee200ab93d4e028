/**
 * The re-fit's windowed updates (in the WebAssembly kernel) and the batched / nonzeros-only reconstruction
 * energy are rearrangements for speed: they must give the numbers of the plain loops below, up to the
 * rounding of a different summation order (1e-9 relative), with the same pruning masks.
 */
import { describe, expect, it } from 'vitest';
import { reconstructionEnergy, refitFactor, refitPrune, type Matrix } from '../src/index.js';
import { gaussianMatrix } from './helpers.js';

/** The plain double loop: Σ_r δ_rᵀ G δ_r and Σ_r w_rᵀ G w_r, skipping zero entries of the vector. */
function plainEnergy(w: Matrix, pruned: Float32Array, gram: Float64Array): { error: number; total: number } {
  const { rows, cols } = w;
  const form = (x: Float64Array) => {
    let total = 0;
    for (let i = 0; i < cols; i++) {
      if (x[i] === 0) continue;
      let s = 0;
      for (let j = 0; j < cols; j++) s += gram[i * cols + j] * x[j];
      total += x[i] * s;
    }
    return total;
  };
  let error = 0;
  let total = 0;
  for (let r = 0; r < rows; r++) {
    const row = Float64Array.from(w.data.subarray(r * cols, (r + 1) * cols));
    const delta = row.map((v, j) => v - pruned[r * cols + j]!);
    error += form(delta);
    total += form(row);
  }
  return { error, total };
}

/** The re-fit's column loop with every update applied at once (unstructured masks every 128 columns). */
function plainRefit(w: Matrix, gram: Float64Array, zeros: number): Float32Array {
  const { rows, cols } = w;
  const { u: factor } = refitFactor(gram, cols);
  const work = Float64Array.from(w.data);
  const pruned = new Uint8Array(rows * cols);
  let done = 0;
  for (let j = 0; j < cols; j++) {
    if (j % 128 === 0) {
      const end = Math.min(cols, j + 128);
      const target = Math.round((zeros * end) / cols) - done;
      const order: Array<[number, number]> = [];
      for (let r = 0; r < rows; r++) for (let c = j; c < end; c++) order.push([(work[r * cols + c]! / factor[c * cols + c]!) ** 2, r * cols + c]);
      order.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      for (let k = 0; k < target; k++) pruned[order[k]![1]] = 1;
      done += Math.max(0, target);
    }
    for (let r = 0; r < rows; r++) {
      const index = r * cols + j;
      if (!pruned[index]) continue;
      const e = work[index]! / factor[j * cols + j]!;
      work[index] = 0;
      if (e === 0) continue;
      for (let k = j + 1; k < cols; k++) work[r * cols + k] -= e * factor[j * cols + k]!;
    }
  }
  return Float32Array.from(work, (v, i) => (pruned[i] ? 0 : v));
}

function gramOf(cols: number, seed: number): Float64Array {
  const x = gaussianMatrix(3 * cols, cols, seed);
  const gram = new Float64Array(cols * cols);
  for (let v = 0; v < x.rows; v++) for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) gram[i * cols + j] += x.data[v * cols + i]! * x.data[v * cols + j]!;
  return gram;
}

describe('re-fit kernels are the plain loops, rearranged', () => {
  for (const [rows, cols] of [
    [3, 5],
    [9, 33],
    [21, 130],
    [40, 300],
  ] as const) {
    it(`${rows}x${cols}: re-fit and reconstruction energy equal the plain loops (1e-9)`, () => {
      const w = gaussianMatrix(rows, cols, rows * 1000 + cols);
      const gram = gramOf(cols, cols);
      for (const fraction of [0.2, 0.5, 0.9]) {
        const zeros = Math.round(fraction * rows * cols);
        const refit = refitPrune(w, gram, { zeros }).data;
        const plain = plainRefit(w, gram, zeros);
        const scale = Math.max(...plain.map(Math.abs));
        let worst = 0;
        for (let i = 0; i < plain.length; i++) {
          expect(refit[i] === 0, `mask at ${i}`).toBe(plain[i] === 0);
          worst = Math.max(worst, Math.abs(refit[i]! - plain[i]!));
        }
        // float64 results 1e-9 apart round to the same float32 or to neighbours: one float32 step at most.
        expect(worst).toBeLessThanOrEqual(scale * 2 ** -23);
        const cut = Float32Array.from(w.data, Math.abs).sort()[Math.floor(fraction * w.data.length)]!;
        const magnitude = w.data.map((v) => (Math.abs(v) < cut ? 0 : v));
        for (const pruned of [refit, magnitude]) {
          const fast = reconstructionEnergy(w, pruned, gram);
          const plain = plainEnergy(w, pruned, gram);
          expect(Math.abs(fast.error - plain.error)).toBeLessThanOrEqual(1e-12 * plain.total);
          expect(Math.abs(fast.total - plain.total)).toBeLessThanOrEqual(1e-12 * plain.total);
        }
      }
    });
  }
});
