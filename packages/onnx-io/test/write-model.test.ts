import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  countNonzero,
  findWeights,
  parseModel,
  readModel,
  readWeight,
  SerializeBuffer,
  serializeModel,
  setMetadata,
  sparseStorageUnsupported,
  updateWeight,
  writeModel,
  type OnnxModel,
  type StorageOptions,
} from '../src/node.js';
import { SparseTensorField, TensorField } from '../src/onnx-fields.js';
import { makeFeeds, makeFixtures, PYTHON, REAL_MODELS, runModel, tempDir, type Fixtures } from './helpers.js';

const here = path.dirname(new URL(import.meta.url).pathname);
let fixtures: Fixtures;
beforeAll(() => {
  fixtures = makeFixtures();
});

function compareWithPython(a: string, b: string): string {
  try {
    return execFileSync(PYTHON, [path.join(here, 'fixtures/compare_models.py'), a, b]).toString().trim();
  } catch (error) {
    return ((error as { stdout?: Buffer }).stdout ?? '').toString().trim() || String(error);
  }
}

/**
 * Rewrites every weight with its own values (dense, sparse, or the storage it already has). 'sparse' keeps
 * dense what the spec does not allow sparse (a Constant node below opset 11, a model below IR 6).
 */
function rewriteAll(model: OnnxModel, storage: 'dense' | 'sparse' | 'same', zeroEvery = 0, options: StorageOptions = {}): void {
  for (const w of findWeights(model)) {
    const values = readWeight(model, w);
    if (zeroEvery) for (let i = 0; i < values.length; i += zeroEvery) values[i] = 0;
    const isSparse = w.location === 'sparse_initializer' || (w.storage.kind === 'constant' && !!w.storage.sparse);
    const target = storage === 'same' ? (isSparse ? 'sparse' : 'dense') : storage === 'sparse' && sparseStorageUnsupported(model, w) ? 'dense' : storage;
    updateWeight(model, w, values, target, options);
  }
}

const runnable = () => Object.entries(fixtures.models).filter(([, m]) => m.runnable !== false).map(([name]) => name);

describe('round trip', () => {
  it('rewriting every weight with its own values keeps the model equal field by field and its outputs bit-identical', async () => {
    const out = tempDir();
    const names = [...Object.keys(fixtures.models), ...Object.entries(REAL_MODELS).map(([k]) => `real:${k}`)];
    for (const name of names) {
      const file = name.startsWith('real:') ? REAL_MODELS[name.slice(5) as keyof typeof REAL_MODELS] : fixtures.path(name);
      const model = readModel(file);
      rewriteAll(model, 'same');
      const target = path.join(out, `${name.replace(/[:/]/g, '_')}.onnx`);
      writeModel(model, target);
      expect(compareWithPython(file, target), name).toBe('equal');
      if (name.startsWith('real:') || fixtures.models[name]!.runnable !== false) {
        const feeds = await makeFeeds(file);
        expect(await runModel(target, feeds), name).toEqual(await runModel(file, feeds));
      }
    }
  });

  it('keeps fields unknown to its schema, at the model, graph, node and tensor level', () => {
    const file = fixtures.path('mixed_main');
    const original = readFileSync(file);
    // Append unknown fields (numbers far above any ONNX field) inside the tensor W1 and at the model level.
    const model = readModel(file);
    const w1 = findWeights(model).find((w) => w.name === 'W1')!;
    expect(w1.storage.kind).toBe('initializer');
    const tensor = (w1.storage as { tensor: { message: { start: number; end: number } } }).tensor.message;
    const unknownTensorField = Buffer.from([0xd2, 0x3e, 0x03, 0x61, 0x62, 0x63]); // field 1002, LEN "abc"
    const unknownModelField = Buffer.from([0xa8, 0x3f, 0x2a]); // field 1013, varint 42
    // Splice the tensor field in and fix the enclosing lengths by re-encoding through our own writer.
    const patched = readModel(file);
    const patchedW1 = findWeights(patched).find((w) => w.name === 'W1')!;
    const tensorInfo = (patchedW1.storage as { tensor: { message: import('../src/message.js').MessageNode } }).tensor.message;
    tensorInfo.appendField([unknownTensorField]);
    patched.root.appendField([unknownModelField]);
    const withUnknown = Buffer.from(serializeModel(patched));
    expect(withUnknown.length).toBe(original.length + unknownTensorField.length + unknownModelField.length);
    expect(tensor.end).toBeGreaterThan(tensor.start);

    // Now rewrite W1's values (a real edit of the tensor holding the unknown field) and every other weight.
    const dir = tempDir();
    const input = path.join(dir, 'unknown.onnx');
    writeFileSync(input, withUnknown);
    const reread = readModel(input);
    rewriteAll(reread, 'dense', 3);
    const output = path.join(dir, 'unknown.out.onnx');
    writeModel(reread, output);
    const written = readFileSync(output);
    expect(written.includes(unknownTensorField)).toBe(true);
    expect(written.includes(unknownModelField)).toBe(true);
    // The unknown tensor field is still inside W1's TensorProto.
    const back = readModel(output);
    const backW1 = findWeights(back).find((w) => w.name === 'W1')!;
    const msg = (backW1.storage as { tensor: { message: import('../src/message.js').MessageNode } }).tensor.message;
    expect(msg.all(1002).length).toBe(1);
    expect(msg.all(TensorField.rawData).length).toBe(1);
  });

  it('writes through a temp file and never modifies the input', () => {
    const dir = tempDir();
    const input = path.join(dir, 'in.onnx');
    copyFileSync(REAL_MODELS.wakeword, input);
    const before = readFileSync(input);
    const model = readModel(input);
    rewriteAll(model, 'sparse', 2);
    writeModel(model, path.join(dir, 'out.onnx'));
    expect(Buffer.compare(readFileSync(input), before)).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['in.onnx', 'out.onnx']);
  });

  it('records provenance in metadata_props, replacing earlier specprune entries', () => {
    const model = readModel(REAL_MODELS.wakeword);
    setMetadata(model, { 'specprune.tool': 'specprune', 'specprune.version': '1' });
    const once = parseModel(serializeModel(model));
    setMetadata(once, { 'specprune.version': '2', 'specprune.options': '{}' });
    const twice = parseModel(serializeModel(once));
    expect(twice.metadata.filter((m) => m.key.startsWith('specprune.'))).toEqual([
      { key: 'specprune.tool', value: 'specprune' },
      { key: 'specprune.version', value: '2' },
      { key: 'specprune.options', value: '{}' },
    ]);
  });
});

describe('sparse storage', () => {
  it('gives the same outputs as dense storage of the same pruned weights, for every storage case', async () => {
    const dir = tempDir();
    for (const name of [...runnable(), 'real:sileroV5', 'real:paddleCls', 'real:sileroLegacy']) {
      const file = name.startsWith('real:') ? REAL_MODELS[name.slice(5) as keyof typeof REAL_MODELS] : fixtures.path(name);
      const dense = readModel(file);
      rewriteAll(dense, 'dense', 2);
      const densePath = path.join(dir, `${name.replace(/[:/]/g, '_')}.dense.onnx`);
      writeModel(dense, densePath);
      const sparse = readModel(file);
      rewriteAll(sparse, 'sparse', 2);
      const sparsePath = path.join(dir, `${name.replace(/[:/]/g, '_')}.sparse.onnx`);
      writeModel(sparse, sparsePath);
      const reread = readModel(sparsePath);
      const weights = findWeights(reread);
      expect(weights.every((w) => w.location === 'sparse_initializer' || w.location === 'constant'), name).toBe(true);
      expect(weights.length, name).toBe(findWeights(readModel(file)).length);
      const feeds = await makeFeeds(file);
      const a = await runModel(densePath, feeds);
      const b = await runModel(sparsePath, feeds);
      for (const key of Object.keys(a)) {
        // Same values; the sparse->dense expansion may change summation order by nothing, so compare tightly.
        expect(b[key]!.length).toBe(a[key]!.length);
        for (let i = 0; i < a[key]!.length; i++) expect(Math.abs(b[key]![i]! - a[key]![i]!), `${name}:${key}[${i}]`).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(a[key]![i]!)));
      }
    }
  });

  it('writes int64 sparse indices by default, as the ONNX spec requires', async () => {
    const dir = tempDir();
    const model = readModel(fixtures.path('if_subgraphs'));
    rewriteAll(model, 'sparse', 2);
    const out = path.join(dir, 'if.sparse.onnx');
    writeModel(model, out);
    const types = findWeights(readModel(out)).map((w) => (w.storage.kind === 'sparse_initializer' ? w.storage.sparse : w.storage.kind === 'constant' ? w.storage.sparse : undefined)!.indices.dataType);
    expect(types.length).toBeGreaterThan(0);
    expect(new Set(types)).toEqual(new Set([7]));
    const feeds = await makeFeeds(fixtures.path('if_subgraphs'));
    expect((await runModel(out, feeds)).y!.length).toBe(4);
  });

  it("with indices 'ort-narrow', uses the smallest index type onnxruntime accepts: int16/int32 in the main graph, int64 in subgraphs", async () => {
    const dir = tempDir();
    const model = readModel(fixtures.path('if_subgraphs'));
    rewriteAll(model, 'sparse', 2, { indices: 'ort-narrow' });
    const out = path.join(dir, 'if.sparse.onnx');
    writeModel(model, out);
    const back = readModel(out);
    const indexTypes: Record<string, number> = {};
    for (const w of findWeights(back)) {
      const sparse = w.storage.kind === 'sparse_initializer' ? w.storage.sparse : w.storage.kind === 'constant' ? w.storage.sparse : undefined;
      indexTypes[`${w.graph === 'main' ? 'main' : 'sub'}:${w.name}`] = sparse!.indices.dataType;
    }
    expect(indexTypes).toEqual({ 'main:Wo': 5, 'sub:Wt': 7, 'sub:Wn': 7, 'sub:We': 7 });
    const feeds = await makeFeeds(fixtures.path('if_subgraphs'));
    expect((await runModel(out, feeds)).y!.length).toBe(4);

    // int32 once a main-graph weight has more than 32768 elements (a real Gemm weight of 76,800).
    const big = readModel(REAL_MODELS.wakeword);
    rewriteAll(big, 'sparse', 2, { indices: 'ort-narrow' });
    const bigOut = path.join(dir, 'wake.sparse.onnx');
    writeModel(big, bigOut);
    const types = findWeights(readModel(bigOut)).map((w) => (w.storage.kind === 'sparse_initializer' ? [w.numel, w.storage.sparse.indices.dataType] : []));
    expect(types).toEqual([
      [76800, 6],
      [1024, 5],
      [32, 5],
    ]);
    const wfeeds = await makeFeeds(REAL_MODELS.wakeword);
    const a = await runModel(bigOut, wfeeds);
    expect(a[Object.keys(a)[0]!]!.every(Number.isFinite)).toBe(true);
    // values + indices + dims are all present
    const anySparse = findWeights(readModel(bigOut))[0]!;
    if (anySparse.storage.kind !== 'sparse_initializer') throw new Error('expected sparse');
    expect(anySparse.storage.sparse.message.all(SparseTensorField.dims).length).toBe(2);
    expect(countNonzero(readModel(bigOut), anySparse)).toBe(38400);
  });
});

describe('external data', () => {
  it('reads external tensors and writes them to a fresh .data file beside the output', async () => {
    const file = fixtures.path('external/model');
    const model = readModel(file);
    rewriteAll(model, 'dense', 4);
    const dir = tempDir();
    const out = path.join(dir, 'pruned.onnx');
    const result = writeModel(model, out);
    expect(result.externalData?.path).toBe(`${out}.data`);
    expect(existsSync(`${out}.data`)).toBe(true);
    const back = readModel(out);
    expect(findWeights(back).every((w) => w.external)).toBe(true);
    const expected = readModel(file);
    for (const w of findWeights(back)) {
      const want = readWeight(expected, findWeights(expected).find((e) => e.name === w.name)!);
      for (let i = 0; i < want.length; i += 4) want[i] = 0;
      expect(Array.from(readWeight(back, w)), w.name).toEqual(Array.from(want));
    }
    const outputs = await runModel(out, await makeFeeds(file));
    expect(outputs.y!.length).toBe(4);
    expect(outputs.y!.every(Number.isFinite)).toBe(true);
  });

  it('moves tensors to external data when the model would pass the size limit', async () => {
    const dir = tempDir();
    const model = readModel(REAL_MODELS.paddleCls);
    const out = path.join(dir, 'cls.onnx');
    const result = writeModel(model, out, { externalDataLimitBytes: 100_000 });
    expect(result.externalData).toBeDefined();
    expect(result.bytes).toBeLessThan(200_000);
    expect(compareWithPython(REAL_MODELS.paddleCls, out)).toBe('equal');
    const feeds = await makeFeeds(REAL_MODELS.paddleCls);
    expect(await runModel(out, feeds)).toEqual(await runModel(REAL_MODELS.paddleCls, feeds));
  });
});

describe('SerializeBuffer (one buffer for models handed to a runtime and dropped)', () => {
  it('gives the bytes a fresh serialisation gives, and its next use overwrites them in the same memory', () => {
    const model = readModel(REAL_MODELS.paddleCls);
    const fresh = serializeModel(model);
    const buffer = new SerializeBuffer();
    const first = serializeModel(model, buffer);
    expect(Buffer.compare(first, fresh)).toBe(0);
    const smaller = readModel(REAL_MODELS.wakeword);
    const second = serializeModel(smaller, buffer);
    expect(second.buffer).toBe(first.buffer);
    expect(Buffer.compare(second, serializeModel(smaller))).toBe(0);
    expect(Buffer.compare(first, fresh)).not.toBe(0);
    // Larger than the buffer: it grows (a new buffer), still the exact bytes.
    const tiny = new SerializeBuffer();
    tiny.take(10);
    expect(Buffer.compare(serializeModel(model, tiny), fresh)).toBe(0);
  });

  it('onnxruntime keeps no reference to the bytes it was created from: overwriting them leaves the session computing the same', async () => {
    const file = REAL_MODELS.paddleCls;
    const feeds = await makeFeeds(file);
    const expected = await runModel(file, feeds);
    const buffer = new SerializeBuffer();
    const session = await ort.InferenceSession.create(serializeModel(readModel(file), buffer));
    try {
      // The same model with every weight zeroed (the same size, dense), serialised over the first one's bytes.
      const zeroed = readModel(file);
      for (const weight of findWeights(zeroed)) updateWeight(zeroed, weight, new Float32Array(weight.numel), 'dense');
      const over = serializeModel(zeroed, buffer);
      expect(over.byteLength).toBeLessThanOrEqual(serializeModel(readModel(file)).byteLength);
      const outputs = await session.run(feeds);
      for (const [name, values] of Object.entries(expected)) expect(Array.from(outputs[name]!.data as Float32Array, Number), name).toEqual(values);
      // And the overwritten bytes are another model (zero weights change the output), so the check above could fail.
      const other = await ort.InferenceSession.create(over);
      const changed = await other.run(feeds);
      await other.release();
      expect(Object.entries(expected).some(([name, values]) => Array.from(changed[name]!.data as Float32Array, Number).some((v, i) => v !== values[i]))).toBe(true);
    } finally {
      await session.release();
    }
  });
});
