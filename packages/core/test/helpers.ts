import { Matrix as MlMatrix, QrDecomposition, SingularValueDecomposition } from 'ml-matrix';
import { createRandom, type Matrix } from '../src/index.js';

/** A rows x cols matrix of standard normal entries. */
export function gaussianMatrix(rows: number, cols: number, seed: number): Matrix {
  const random = createRandom(seed);
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = random.nextGaussian();
  return { data, rows, cols };
}

/** A random n x n orthogonal matrix: Q of the QR decomposition of a Gaussian matrix (ml-matrix). */
export function randomOrthogonal(n: number, seed: number): MlMatrix {
  const g = gaussianMatrix(n, n, seed);
  return new QrDecomposition(MlMatrix.from1DArray(n, n, Array.from(g.data))).orthogonalMatrix;
}

/** U · diag(spectrum) · Vᵀ with random orthogonal U, V: a matrix whose singular values are `spectrum`. */
export function matrixWithSpectrum(rows: number, cols: number, spectrum: readonly number[], seed: number): Matrix {
  const u = randomOrthogonal(rows, seed);
  const v = randomOrthogonal(cols, seed + 1);
  const sigma = MlMatrix.zeros(rows, cols);
  spectrum.forEach((value, i) => sigma.set(i, i, value));
  const product = u.mmul(sigma).mmul(v.transpose());
  return { data: Float32Array.from(product.to1DArray()), rows, cols };
}

/** All singular values by ml-matrix's (one-sided Jacobi / Golub–Reinsch) SVD, descending. */
export function referenceSingularValues(w: Matrix): number[] {
  const m = MlMatrix.from1DArray(w.rows, w.cols, Array.from(w.data));
  const svd = new SingularValueDecomposition(m, {
    computeLeftSingularVectors: false,
    computeRightSingularVectors: false,
    autoTranspose: true,
  });
  return [...svd.diagonal].sort((a, b) => b - a);
}

/** Product of a rows x r and r x cols Gaussian matrix: rank r. */
export function lowRankMatrix(rows: number, cols: number, rank: number, seed: number): Matrix {
  const a = gaussianMatrix(rows, rank, seed);
  const b = gaussianMatrix(rank, cols, seed + 1);
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      let sum = 0;
      for (let t = 0; t < rank; t++) sum += a.data[i * rank + t] * b.data[t * cols + j];
      data[i * cols + j] = sum;
    }
  }
  return { data, rows, cols };
}
