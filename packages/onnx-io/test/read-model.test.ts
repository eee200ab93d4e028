import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { countNonzero, findWeights, parseModel, readModel, readWeight, serializeModel } from '../src/index.js';
import { makeFixtures, oracleWeights, REAL_MODELS, type Fixtures } from './helpers.js';

let fixtures: Fixtures;
beforeAll(() => {
  fixtures = makeFixtures();
});

describe('real pretrained models', () => {
  const files = Object.values(REAL_MODELS);

  it('finds the same weights as an independent python3-onnx oracle', () => {
    const oracle = oracleWeights(files);
    for (const file of files) {
      const model = readModel(file);
      const ours = findWeights(model).map((w) => ({
        name: w.name,
        graph: w.graph,
        location: w.location,
        dtype: w.dtype,
        shape: w.shape,
        numel: w.numel,
        nnz: countNonzero(model, w),
        uses: w.uses.length,
      }));
      const theirs = oracle[file]!.map(({ name, graph, location, dtype, shape, numel, nnz, uses }) => ({ name, graph, location, dtype, shape, numel, nnz, uses }));
      expect(ours.length).toBeGreaterThan(0);
      expect(ours).toEqual(theirs);
    }
  });

  it('covers initializers, Constant nodes and If subgraphs across the fixtures', () => {
    const locations = new Set<string>();
    let inSubgraph = 0;
    for (const file of files) {
      for (const w of findWeights(readModel(file))) {
        locations.add(w.location);
        if (w.graph !== 'main') inSubgraph++;
      }
    }
    expect(locations).toEqual(new Set(['initializer', 'constant']));
    expect(inSubgraph).toBeGreaterThan(10);
  });

  it('serialises an unchanged model to identical bytes', () => {
    for (const file of files) {
      const bytes = readFileSync(file);
      expect(Buffer.compare(Buffer.from(serializeModel(readModel(file))), bytes)).toBe(0);
    }
  });
});

describe('generated storage cases', () => {
  it('reads every weight with the dtype, shape, location, graph and values python wrote', () => {
    for (const [name, { weights: expected }] of Object.entries(fixtures.models)) {
      const model = readModel(fixtures.path(name));
      // Attribute order (then/else) decides discovery order; compare by name.
      const found = findWeights(model).sort((a, b) => a.name.localeCompare(b.name));
      expected.sort((a, b) => a.name.localeCompare(b.name));
      expect(found.map((w) => w.name), name).toEqual(expected.map((w) => w.name));
      for (const [i, w] of found.entries()) {
        const e = expected[i]!;
        expect({ graph: w.graph, location: w.location, dtype: w.dtype, shape: w.shape, numel: w.numel, op: w.uses[0]!.op, external: w.external }, `${name}/${w.name}`).toEqual({
          graph: e.graph,
          location: e.location,
          dtype: e.dtype,
          shape: e.shape,
          numel: e.numel,
          op: e.op,
          external: e.external ?? false,
        });
        if (e.uses !== undefined) expect(w.uses.length, `${name}/${w.name} uses`).toBe(e.uses);
        expect(countNonzero(model, w), `${name}/${w.name} nnz`).toBe(e.nnz);
        const values = readWeight(model, w);
        let sum = 0;
        let sumsq = 0;
        for (const v of values) {
          sum += v;
          sumsq += v * v;
        }
        // float64 weights are decoded to float32 for the math; everything else is exact.
        const tolerance = e.dtype === 'float64' ? 1e-5 : 1e-9;
        expect(Math.abs(sumsq - e.sumsq) / e.sumsq, `${name}/${w.name} sum of squares`).toBeLessThan(tolerance + 1e-12);
        expect(Math.abs(sum - e.sum), `${name}/${w.name} sum`).toBeLessThan(1e-4 * Math.sqrt(e.sumsq) + 1e-9);
      }
    }
  });

  it('counts a weight once however many nodes consume it, and follows Identity chains', () => {
    const model = readModel(fixtures.path('mixed_main'));
    const weights = findWeights(model);
    const wc = weights.find((w) => w.name === 'Wc')!;
    expect(wc.uses.length).toBe(2);
    const w2 = weights.find((w) => w.name === 'W2')!;
    expect(w2.uses[0]!.viaIdentity).toBe(true);
    expect(w2.uses[0]!.op).toBe('Gemm');
  });

  it('reads a model from bytes and refuses external data without a folder', () => {
    const bytes = readFileSync(fixtures.path('external/model'));
    expect(() => parseModel(bytes, { label: 'buffer.onnx' })).toThrow(/buffer\.onnx: tensor "Wx" is stored in external file "weights\.bin"; read the model from its file/);
  });
});
