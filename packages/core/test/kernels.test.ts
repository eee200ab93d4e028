/**
 * The WebAssembly kernels: every entry of C (+|-)= A Bᵀ is exactly ntDot's sum (the kernels' documented
 * formula, computed here in JavaScript), for every strip/tail shape and both triangles; the committed module
 * is exactly what the WebAssembly text compiles to.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { gemmNT, kernelArrays, kernelEpoch, matVecF32, mvDot, ntDot, releaseKernelArrays } from '../src/kernels/index.js';
import { kernelOperator } from '../src/spectrum/operator.js';
import { accumulateInputs, createInputStats, createRandom, finishInputStats, groupGram, inverseUpperCholesky, matrixOperator, multiplyTransposeVector, multiplyVector } from '../src/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

function fill(array: Float64Array, seed: number): void {
  const random = createRandom(seed);
  for (let i = 0; i < array.length; i++) array[i] = random.nextGaussian();
}

describe('gemmNT', () => {
  for (const [m, n, k] of [
    [1, 1, 1],
    [4, 2, 2],
    [5, 3, 7],
    [9, 10, 33],
    [17, 31, 128],
    [4, 64, 1],
  ] as const) {
    for (const mode of ['add', 'sub'] as const) {
      for (const triangle of [undefined, 'upper', 'lower'] as const) {
        it(`${m}x${n}, k=${k}, ${mode}${triangle ? `, ${triangle}` : ''}: every entry is C ${mode === 'add' ? '+' : '-'} ntDot, exactly`, () => {
          // Strides wider than the operands and nonzero offsets, as callers use sub-blocks.
          const [lda, ldb, ldc] = [k + 3, k + 1, n + 2];
          const [a, b, c] = kernelArrays(2 + m * lda, 1 + n * ldb, 3 + m * ldc);
          fill(a!, 1);
          fill(b!, 2);
          fill(c!, 3);
          const before = Float64Array.from(c!);
          gemmNT(mode, m, n, k, a!, 2, lda, b!, 1, ldb, c!, 3, ldc, triangle);
          let computed = 0;
          for (let r = 0; r < m; r++) {
            for (let j = 0; j < n; j++) {
              const at = 3 + r * ldc + j;
              const v = ntDot(a!, 2 + r * lda, b!, 1 + j * ldb, k);
              const expected = mode === 'add' ? before[at]! + v : before[at]! - v;
              const wanted = triangle === 'upper' ? j >= r : triangle === 'lower' ? j <= r : true;
              if (c![at] !== before[at]) computed++;
              if (wanted) expect(c![at]).toBe(expected);
              else expect([before[at], expected]).toContain(c![at]);
            }
          }
          expect(computed).toBeGreaterThan(0);
          // Entries outside C's rows and columns are untouched.
          for (let i = 0; i < 3; i++) expect(c![i]).toBe(before[i]);
          for (let r = 0; r < m; r++) for (let j = n; j < ldc; j++) if (3 + r * ldc + j < c!.length) expect(c![3 + r * ldc + j]).toBe(before[3 + r * ldc + j]);
        });
      }
    }
  }

  it('refuses arrays that are not in the kernels memory', () => {
    const [c] = kernelArrays(4);
    expect(() => gemmNT('add', 2, 2, 1, new Float64Array(4), 0, 1, c!, 0, 1, c!, 0, 2)).toThrow(/kernelArrays/);
  });

  it('memory grows for large operands and is given back', () => {
    const [big] = kernelArrays(20 << 20);
    big![big!.length - 1] = 1;
    releaseKernelArrays();
    const [small] = kernelArrays(4);
    expect(small!.buffer.byteLength).toBeLessThan(64 << 20);
  });
});

describe('matrix-vector products of a float32 matrix (Lanczos)', () => {
  /** Float32 Gaussian entries, some exactly zero (as pruned weights have). */
  const matrix = (n: number, seed: number) => {
    const random = createRandom(seed);
    return Float32Array.from({ length: n }, (_, i) => (i % 5 === 2 ? 0 : random.nextGaussian()));
  };
  for (const [rows, cols] of [
    [1, 1],
    [3, 5],
    [4, 8],
    [7, 13],
    [16, 33],
    [2, 64],
  ] as const) {
    for (const diff of [false, true]) {
      it(`${rows}x${cols}${diff ? ', A − B' : ''}: y = D x is mvDot's sum and x = Dᵀ y the row-order sum, exactly`, () => {
        const [ka, kb, kx, ky] = kernelArrays(Math.ceil((rows * cols) / 2), Math.ceil((rows * cols) / 2), cols, rows);
        const a = new Float32Array(ka!.buffer, ka!.byteOffset, rows * cols);
        const b = new Float32Array(kb!.buffer, kb!.byteOffset, rows * cols);
        a.set(matrix(rows * cols, 1));
        b.set(matrix(rows * cols, 2));
        fill(kx!, 3);
        matVecF32(false, rows, cols, a, diff ? b : undefined, kx!, ky!);
        for (let i = 0; i < rows; i++) expect(ky![i]).toBe(mvDot(a, i * cols, diff ? b : undefined, kx!, cols));
        fill(ky!, 4);
        kx!.fill(Number.NaN);
        matVecF32(true, rows, cols, a, diff ? b : undefined, kx!, ky!);
        for (let p = 0; p < cols; p++) {
          let v = 0;
          for (let i = 0; i < rows; i++) v += ky![i]! * (diff ? a[i * cols + p]! - b[i * cols + p]! : a[i * cols + p]!);
          expect(kx![p]).toBe(v);
        }
      });
    }
  }

  it('the operator agrees with the JavaScript products to 1e-12, also after other kernel work took the memory', () => {
    const [rows, cols] = [37, 61];
    const w = { data: matrix(rows * cols, 5), rows, cols };
    const op = matrixOperator(w);
    const x = new Float64Array(cols).map((_, i) => Math.sin(i));
    const y = new Float64Array(rows).map((_, i) => Math.cos(i));
    const check = () => {
      const [got, want] = [new Float64Array(rows), new Float64Array(rows)];
      op.multiply(x, got);
      multiplyVector(w, x, want);
      for (let i = 0; i < rows; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(want[i]!)));
      const [gotT, wantT] = [new Float64Array(cols), new Float64Array(cols)];
      op.multiplyTranspose(y, gotT);
      multiplyTransposeVector(w, y, wantT);
      for (let p = 0; p < cols; p++) expect(Math.abs(gotT[p]! - wantT[p]!)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(wantT[p]!)));
    };
    check();
    // Above the copy limit the products run in JavaScript on the arrays in place: the same to 1e-12, difference too.
    const b = matrix(rows * cols, 6);
    for (const second of [undefined, b]) {
      const [inKernels, inPlace] = [kernelOperator(w.data, second, rows, cols), kernelOperator(w.data, second, rows, cols, 0)];
      const [y1, y2, x1, x2] = [new Float64Array(rows), new Float64Array(rows), new Float64Array(cols), new Float64Array(cols)];
      inKernels.multiply(x, y1);
      inPlace.multiply(x, y2);
      inKernels.multiplyTranspose(y, x1);
      inPlace.multiplyTranspose(y, x2);
      for (let i = 0; i < rows; i++) expect(Math.abs(y1[i]! - y2[i]!)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(y2[i]!)));
      for (let p = 0; p < cols; p++) expect(Math.abs(x1[p]! - x2[p]!)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(x2[p]!)));
      expect(y2.some((v) => v !== 0)).toBe(true);
    }
    // Other kernel work overwrites the memory the operator copied its matrix into: it copies it again.
    const before = kernelEpoch();
    const [junk] = kernelArrays(rows * cols);
    junk!.fill(7);
    expect(kernelEpoch()).not.toBe(before);
    check();
  });
});

describe('the committed module', () => {
  it('is what scripts/kernels-wat.mjs compiles to', () => {
    execFileSync(process.execPath, [path.join(root, 'scripts/build-kernels.mjs'), '--check'], { cwd: root, stdio: 'pipe' });
  });
});

/** The inverse-factor computation before the kernels (reverse Cholesky, then row-by-row inversion), as the reference. */
function plainInverseUpperCholesky(gram: Float64Array, n: number, dampening: number): Float64Array | undefined {
  const h = Float64Array.from(gram.subarray(0, n * n));
  let mean = 0;
  for (let i = 0; i < n; i++) {
    if (h[i * n + i] === 0) h[i * n + i] = 1;
    mean += h[i * n + i]!;
  }
  mean /= n;
  for (let i = 0; i < n; i++) h[i * n + i] += dampening * mean;
  const t = new Float64Array(n * n);
  for (let j = n - 1; j >= 0; j--) {
    let s = h[j * n + j]!;
    for (let k = j + 1; k < n; k++) s -= t[j * n + k]! ** 2;
    if (!(s > 0)) return undefined;
    t[j * n + j] = Math.sqrt(s);
    for (let i = 0; i < j; i++) {
      let v = h[i * n + j]!;
      for (let k = j + 1; k < n; k++) v -= t[i * n + k]! * t[j * n + k]!;
      t[i * n + j] = v / t[j * n + j]!;
    }
  }
  const u = new Float64Array(n * n);
  for (let i = n - 1; i >= 0; i--) {
    u[i * n + i] = 1 / t[i * n + i]!;
    for (let j = i + 1; j < n; j++) {
      let acc = 0;
      for (let k = i + 1; k <= j; k++) acc += t[i * n + k]! * u[k * n + j]!;
      u[i * n + j] = -acc / t[i * n + i]!;
    }
  }
  return u;
}

/** X Xᵀ of `count` Gaussian vectors of length n (with one always-zero input), in float64. */
function sampleGram(n: number, count: number, seed: number): { vectors: Float32Array; gram: Float64Array } {
  const random = createRandom(seed);
  const vectors = new Float32Array(count * n);
  for (let i = 0; i < vectors.length; i++) vectors[i] = i % n === 1 ? 0 : random.nextGaussian() * (1 + (i % n) / n);
  const gram = new Float64Array(n * n);
  for (let v = 0; v < count; v++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) gram[i * n + j] += vectors[v * n + i]! * vectors[v * n + j]!;
  return { vectors, gram };
}

describe('blocked inverse Cholesky factor', () => {
  for (const n of [1, 2, 5, 63, 64, 65, 130, 200]) {
    it(`n=${n}: equals the unblocked reference to 1e-9 and Uᵀ U (H + λI) = I`, () => {
      // Fewer samples than inputs for the larger sizes: singular Gram matrices, as real layers give.
      const { gram } = sampleGram(n, Math.max(2, Math.round(n * 0.8)), n);
      const fast = inverseUpperCholesky(gram, n, 0.01)!;
      const plain = plainInverseUpperCholesky(gram, n, 0.01)!;
      const scale = Math.max(...plain.map(Math.abs));
      for (let i = 0; i < n * n; i++) expect(Math.abs(fast[i]! - plain[i]!)).toBeLessThanOrEqual(1e-9 * scale);
      for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) expect(fast[i * n + j]).toBe(0);
    });
  }

  it('reports a matrix that is not positive definite', () => {
    const gram = Float64Array.from([1, 2, 2, 1]);
    expect(inverseUpperCholesky(gram, 2, 0)).toBeUndefined();
    expect(inverseUpperCholesky(Float64Array.from([Number.NaN, 0, 0, 1]), 2, 0.01)).toBeUndefined();
  });

  it('agrees with numpy (independent oracle): cholesky(inv(H + λI)) transposed', () => {
    const n = 97;
    const { gram } = sampleGram(n, 150, 5);
    const u = inverseUpperCholesky(gram, n, 0.01)!;
    const dir = mkdtempSync(path.join(tmpdir(), 'specprune-kernels-'));
    try {
      writeFileSync(path.join(dir, 'gram.bin'), gram);
      const script = [
        'import numpy as np, sys',
        `n = ${n}`,
        "h = np.fromfile(sys.argv[1] + '/gram.bin', dtype=np.float64).reshape(n, n).copy()",
        'd = np.diag(h).copy(); d[d == 0] = 1; h[np.diag_indices(n)] = d',
        'h += 0.01 * d.mean() * np.eye(n)',
        'u = np.linalg.cholesky(np.linalg.inv(h)).T',
        "u.astype(np.float64).tofile(sys.argv[1] + '/u.bin')",
      ].join('\n');
      execFileSync('/usr/bin/python3', ['-c', script, dir]);
      const expected = new Float64Array(readFileSync(path.join(dir, 'u.bin')).buffer.slice(0));
      const scale = Math.max(...expected.map(Math.abs));
      for (let i = 0; i < n * n; i++) expect(Math.abs(u[i]! - expected[i]!)).toBeLessThanOrEqual(1e-8 * scale);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Gram accumulation', () => {
  it('over batches and tails equals X Xᵀ in float64 (1e-12), per group', () => {
    const n = 37;
    const stats = createInputStats(n, 2, true);
    const a = sampleGram(n, 700, 1);
    const b = sampleGram(n, 700, 2);
    // Uneven chunks: batches fill and flush across calls.
    for (let v = 0; v < 700; v += 99) {
      const count = Math.min(99, 700 - v);
      accumulateInputs(stats, 0, a.vectors.subarray(v * n, (v + count) * n), count);
      accumulateInputs(stats, 1, b.vectors.subarray(v * n, (v + count) * n), count);
    }
    finishInputStats(stats);
    for (const [g, ref] of [[0, a.gram], [1, b.gram]] as const) {
      const got = groupGram(stats, g);
      const scale = Math.max(...ref.map(Math.abs));
      for (let i = 0; i < n * n; i++) expect(Math.abs(got[i]! - ref[i]!)).toBeLessThanOrEqual(1e-12 * scale);
      for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) expect(got[i * n + j]).toBe(got[j * n + i]);
    }
  });
});
