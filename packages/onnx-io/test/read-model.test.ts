import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { allTensors, countNonzero, findWeights, nodeExternalFiles, OnnxInputError, parseModel, readModel, readWeight, serializeForRuntime, serializeModel, unchangedModelBytes, updateWeight } from '../src/node.js';
import { makeFixtures, oracleWeights, REAL_MODELS, type Fixtures } from './helpers.js';

let fixtures: Fixtures;
beforeAll(() => {
  fixtures = makeFixtures();
});

describe('real pretrained models', () => {
  const files = Object.values(REAL_MODELS);

  it('are their own runtime bytes until edited (unchangedModelBytes: a view, exactly what serialising gives)', () => {
    for (const file of files) {
      const model = readModel(file);
      const own = unchangedModelBytes(model);
      expect(own).toBe(model.bytes);
      expect(Buffer.from(serializeForRuntime(model)).equals(Buffer.from(own!))).toBe(true);
      const weight = findWeights(model)[0]!;
      updateWeight(model, weight, new Float32Array(weight.numel), 'dense');
      // Rewritten in place (a model read from its file owns its bytes) or not: never other than what serialising gives.
      const after = unchangedModelBytes(model);
      if (after) expect(Buffer.from(serializeModel(model)).equals(Buffer.from(after))).toBe(true);
      const copy = parseModel(new Uint8Array(readFileSync(file)));
      updateWeight(copy, findWeights(copy)[0]!, new Float32Array(weight.numel), 'dense');
      expect(unchangedModelBytes(copy)).toBeUndefined();
    }
  });

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

  it('parses a model from bytes with its external data recorded; reading that data needs the Node entry', () => {
    const file = fixtures.path('external/model');
    const bytes = readFileSync(file);
    const dir = path.dirname(file);
    const fromFile = readModel(file);
    const expected = findWeights(fromFile).map((w) => Array.from(readWeight(fromFile, w)));
    const noReader = /the model: tensor "Wx" is stored in external file "weights\.bin", which a model parsed from bytes cannot read; external data needs the Node entry/;

    const parsed = parseModel(bytes, { label: 'buffer.onnx' });
    const weights = findWeights(parsed);
    expect(weights.map((w) => [w.name, w.external, w.shape])).toEqual(findWeights(fromFile).map((w) => [w.name, true, w.shape]));
    expect(allTensors(parsed).find((t) => t.name === 'Wx')!.external).toMatchObject({ location: 'weights.bin', path: 'weights.bin', offset: 0 });
    expect(() => readWeight(parsed, weights[0]!)).toThrow(OnnxInputError);
    expect(() => readWeight(parsed, weights[0]!)).toThrow(noReader);
    expect(() => serializeForRuntime(parsed)).toThrow(noReader);
    // Its own bytes are not what a runtime needs (the data is elsewhere).
    expect(unchangedModelBytes(parsed)).toBeUndefined();
    // The bytes themselves are kept: re-encoding needs no external data.
    expect(Buffer.from(serializeModel(parsed)).equals(bytes)).toBe(true);

    // A folder alone opens nothing (the browser-safe entry never touches files).
    const withDir = parseModel(bytes, { label: 'buffer.onnx', dir: `${dir}/` });
    expect(allTensors(withDir).find((t) => t.name === 'Wx')!.external!.path).toBe(`${dir}/weights.bin`);
    expect(() => readWeight(withDir, findWeights(withDir)[0]!)).toThrow(noReader);

    // The Node entry's files without a folder cannot know where the data is.
    const noDir = parseModel(bytes, { label: 'buffer.onnx', externalFiles: nodeExternalFiles });
    expect(() => readWeight(noDir, findWeights(noDir)[0]!)).toThrow(/the model: tensor "Wx" is stored in external file "weights\.bin"; read the model from its file so the folder is known/);

    // With both, the bytes read as readModel reads them, and inline for a runtime.
    const withFiles = parseModel(bytes, { label: 'buffer.onnx', dir, externalFiles: nodeExternalFiles });
    expect(findWeights(withFiles).map((w) => Array.from(readWeight(withFiles, w)))).toEqual(expected);
    const inlined = parseModel(serializeForRuntime(withFiles));
    expect(allTensors(inlined).some((t) => t.external)).toBe(false);
    expect(findWeights(inlined).map((w) => Array.from(readWeight(inlined, w)))).toEqual(expected);
  });

  it('refuses an unsafe external data location while parsing bytes, before any file is touched', () => {
    const bytes = new Uint8Array(readFileSync(fixtures.path('external/model')));
    const at = Buffer.from(bytes).indexOf('weights.bin');
    for (const [location, name] of [['/etc/passwd', 'absolute'], ['..\\x.bin', 'parent (backslash)'], ['C:/x.bin', 'drive']] as const) {
      // Same length as "weights.bin" (11 bytes) so the protobuf lengths stay valid.
      const mutated = bytes.slice();
      mutated.set(new TextEncoder().encode(location.padEnd(11, '_')), at);
      expect(() => parseModel(mutated, { label: 'buffer.onnx' }), name).toThrow(/buffer\.onnx: tensor "W[xy]" has an unsafe external data location ".*"; it must be a relative path inside the model's folder\./);
    }
  });
});
