import { createRandom, type Matrix } from '../src/index.js';

/**
 * An n x n float32 matrix H₁H₂ · diag(spectrum) · H₃H₄ built from random Householder reflections
 * (H = I − 2vvᵀ): orthogonal factors in O(n²) each, so its singular values are exactly `spectrum`
 * (up to float32 rounding of the stored entries).
 */
export function matrixWithKnownSpectrum(n: number, spectrum: Float64Array, seed: number): Matrix {
  const random = createRandom(seed);
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) m[i * n + i] = spectrum[i];
  const v = new Float64Array(n);
  const t = new Float64Array(n);
  const reflector = (): void => {
    let length = 0;
    for (let i = 0; i < n; i++) {
      v[i] = random.nextGaussian();
      length += v[i] * v[i];
    }
    length = Math.sqrt(length);
    for (let i = 0; i < n; i++) v[i] /= length;
  };
  for (let r = 0; r < 3; r++) {
    // M ← (I − 2vvᵀ) M
    reflector();
    t.fill(0);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) t[j] += v[i] * m[i * n + j];
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) m[i * n + j] -= 2 * v[i] * t[j];
    // M ← M (I − 2vvᵀ)
    reflector();
    for (let i = 0; i < n; i++) {
      let dot = 0;
      for (let j = 0; j < n; j++) dot += m[i * n + j] * v[j];
      for (let j = 0; j < n; j++) m[i * n + j] -= 2 * dot * v[j];
    }
  }
  return { data: Float32Array.from(m), rows: n, cols: n };
}
