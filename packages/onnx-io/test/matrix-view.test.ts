import { beforeAll, describe, expect, it } from 'vitest';
import { extractBlock, findWeights, matrixView, readModel, readWeight, scatterBlock } from '../src/node.js';
import { makeFixtures, type Fixtures } from './helpers.js';

let fixtures: Fixtures;
beforeAll(() => {
  fixtures = makeFixtures();
});

function weight(model: string, name: string) {
  const m = readModel(fixtures.path(model));
  const w = findWeights(m).find((x) => x.name === name)!;
  return { w, values: readWeight(m, w) };
}

describe('matrix views: rows are outputs, columns the reduction dimension', () => {
  it('Conv [out, in, kh, kw] -> [out, in*kh*kw] as stored', () => {
    const { w, values } = weight('mixed_main', 'W1');
    const view = matrixView(w);
    expect(view.blocks).toHaveLength(1);
    expect(view.blocks[0]).toMatchObject({ rows: 4, cols: 27 });
    expect(Array.from(extractBlock(values, view.blocks[0]!))).toEqual(Array.from(values));
  });

  it('Gemm with transB=1 keeps [N, K]; MatMul B [K, N] is viewed transposed as [N, K]', () => {
    const gemm = weight('mixed_main', 'W2');
    expect(matrixView(gemm.w).blocks[0]).toMatchObject({ rows: 5, cols: 144, colStride: 1 });
    const matmul = weight('mixed_main', 'Wc');
    const block = matrixView(matmul.w).blocks[0]!;
    const m = extractBlock(matmul.values, block);
    // element (n, k) of the view is W[k, n]
    for (let n = 0; n < 5; n++) for (let k = 0; k < 5; k++) expect(m[n * 5 + k]).toBe(matmul.values[k * 5 + n]);
  });

  it('LSTM W splits per direction and gate into [hidden, input] blocks; ConvTranspose reduces over its stored rows', () => {
    const lstm = weight('lstm_convtranspose', 'WL');
    const view = matrixView(lstm.w);
    expect(view.blocks.map((b) => [b.rows, b.cols, b.offset, b.label])).toEqual([
      [4, 3, 0, 'direction 0, gate i'],
      [4, 3, 12, 'direction 0, gate o'],
      [4, 3, 24, 'direction 0, gate f'],
      [4, 3, 36, 'direction 0, gate c'],
    ]);
    const convT = weight('lstm_convtranspose', 'WT');
    expect(matrixView(convT.w).blocks[0]).toMatchObject({ rows: 27, cols: 2 });
  });

  it('scatterBlock is the inverse of extractBlock for every view', () => {
    for (const [model, name] of [
      ['mixed_main', 'Wc'],
      ['lstm_convtranspose', 'WL'],
      ['lstm_convtranspose', 'WT'],
    ] as const) {
      const { w, values } = weight(model, name);
      const copy = new Float32Array(values.length);
      for (const block of matrixView(w).blocks) scatterBlock(copy, block, extractBlock(values, block));
      expect(Array.from(copy), name).toEqual(Array.from(values));
    }
  });
});
