import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import ort from 'onnxruntime-node';
import { bitmaskUnsupported, channelAxis, floatToHalf, countNonzero, lowersPrecision, roundTripValues, findWeights, parseModel, readWeight, serializeModel, storageBytes, updateWeight, type Storage } from '../src/index.js';
import { readModel } from '../src/node.js';
import { makeFeeds, PYTHON, REAL_MODELS, runModel, tempDir } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
let dir: string;

beforeAll(() => {
  dir = tempDir('specprune-bitmask-');
  execFileSync(PYTHON, [path.join(here, 'fixtures/make_bitmask_models.py'), dir], { stdio: 'pipe' });
});

/** Every other element of each weight set to zero (except w3, which keeps all, and w2, all zero already). */
function pruned(values: Float32Array, name: string): Float32Array {
  const out = values.slice();
  if (name !== 'w3') for (let i = 0; i < out.length; i += 2) out[i] = 0;
  return out;
}

/** Writes `source` with every weight pruned and stored as `storage`; returns the file. */
function write(source: string, storage: Storage, suffix: string): string {
  const model = readModel(source);
  for (const weight of findWeights(model)) updateWeight(model, weight, pruned(readWeight(model, weight), weight.name), storage);
  const file = path.join(dir, `${path.basename(source, '.onnx')}-${suffix}.onnx`);
  writeFileSync(file, serializeModel(model));
  return file;
}

/** makeFeeds, with float16 inputs for the float16 model. */
async function feedsFor(source: string): Promise<Record<string, ort.Tensor>> {
  const feeds = await makeFeeds(source);
  if (!source.endsWith('f16.onnx')) return feeds;
  return Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, new ort.Tensor('float16', Uint16Array.from(t.data as Float32Array, floatToHalf), t.dims)]));
}

/** onnx.checker; `full` adds strict shape inference (which rejects sparse initializers feeding Conv/MatMul). */
function checker(file: string, full = true): void {
  execFileSync(PYTHON, ['-c', `import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=${full ? 'True' : 'False'})`, file], { stdio: 'pipe' });
}

function maxAbsDiff(a: Record<string, number[]>, b: Record<string, number[]>): number {
  let max = 0;
  for (const [name, values] of Object.entries(a)) {
    expect(b[name]).toHaveLength(values.length);
    values.forEach((v, i) => (max = Math.max(max, Math.abs(v - b[name]![i]!))));
  }
  return max;
}

describe.each(['f32', 'f16', 'f32x8'])('bitmask storage of %s weights', (name) => {
  it('computes what the same pruned weights stored dense compute, passes the checker, and reads back', async () => {
    const source = path.join(dir, `${name}.onnx`);
    const dense = write(source, 'dense', 'dense');
    const bitmask = write(source, 'bitmask', 'bitmask');
    checker(bitmask);
    const feeds = await feedsFor(source);
    const [expected, actual] = [await runModel(dense, feeds), await runModel(bitmask, feeds)];
    expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
    expect(maxAbsDiff(expected, actual)).toBeLessThanOrEqual(1e-6);

    const denseModel = readModel(dense);
    const model = readModel(bitmask);
    const weights = findWeights(model);
    const denseWeights = findWeights(denseModel);
    expect(weights.map((w) => w.name).sort()).toEqual(denseWeights.map((w) => w.name).sort());
    for (const weight of weights) {
      const twin = denseWeights.find((w) => w.name === weight.name)!;
      expect(weight.location).toBe('bitmask');
      expect([weight.dtype, weight.shape, weight.numel]).toEqual([twin.dtype, twin.shape, twin.numel]);
      expect(readWeight(model, weight)).toEqual(readWeight(denseModel, twin));
      expect(countNonzero(model, weight)).toBe(countNonzero(denseModel, twin));
    }
  });

  it('re-encodes a bitmask model as bitmask, dense and sparse, all computing the same', async () => {
    const source = path.join(dir, `${name}.onnx`);
    const bitmask = write(source, 'bitmask', 'bitmask-first');
    const feeds = await feedsFor(source);
    const expected = await runModel(bitmask, feeds);
    for (const storage of ['bitmask', 'dense', 'sparse'] as const) {
      const model = readModel(bitmask);
      // Pruning again changes nothing (the zeros stay zero), so the outputs must stay the same.
      for (const weight of findWeights(model)) updateWeight(model, weight, pruned(readWeight(model, weight), weight.name), storage);
      const file = path.join(dir, `${name}-again-${storage}.onnx`);
      writeFileSync(file, serializeModel(model));
      checker(file, storage !== 'sparse');
      expect(findWeights(readModel(file)).map((w) => w.location)).toEqual(findWeights(readModel(file)).map(() => (storage === 'sparse' ? 'sparse_initializer' : storage === 'dense' ? 'initializer' : 'bitmask')));
      expect(maxAbsDiff(expected, await runModel(file, feeds)), storage).toBeLessThanOrEqual(1e-6);
    }
  });
});

/**
 * Every weight of `source` pruned and written in `storage` with `form` values, and a twin with the same values
 * rounded by roundTripValues stored dense; both pass the checker's full check and compute exactly the same.
 * Returns the two files and the outputs. Weights that cannot take `form` keep their own precision in both.
 */
async function encodeWithTwin(source: string, storage: 'bitmask' | 'dense', form: 'float16' | 'int8', tag: string) {
  const model = readModel(source);
  const denseTwin = readModel(source);
  let encoded = 0;
  for (const weight of findWeights(model)) {
    const values = pruned(readWeight(model, weight), weight.name);
    const lower = lowersPrecision(form, weight.dtype);
    if (lower) encoded++;
    updateWeight(model, weight, values, storage, { values: lower ? form : 'float32' });
    const twin = findWeights(denseTwin).find((w) => w.name === weight.name)!;
    updateWeight(denseTwin, twin, lower ? roundTripValues(values, weight, form) : values, 'dense');
  }
  const [file, denseFile] = [path.join(dir, `${tag}.onnx`), path.join(dir, `${tag}-twin.onnx`)];
  writeFileSync(file, serializeModel(model));
  writeFileSync(denseFile, serializeModel(denseTwin));
  checker(file);
  const feeds = await feedsFor(source);
  const expected = await runModel(denseFile, feeds);
  expect(maxAbsDiff(expected, await runModel(file, feeds))).toBe(0);
  return { file, denseFile, feeds, expected, encoded };
}

describe.each(['f32', 'f16', 'f32x8'])('bitmask storage of %s weights with float16 and int8 values', (name) => {
  it.each(['float16', 'int8'] as const)('%s values: the decode gives exactly roundTripValues (outputs equal the same values stored dense), checker passes, reads back, re-encodes', async (form) => {
    const { file, denseFile, feeds, expected } = await encodeWithTwin(path.join(dir, `${name}.onnx`), 'bitmask', form, `${name}-${form}-values`);

    const written = readModel(file);
    const twins = findWeights(readModel(denseFile));
    for (const weight of findWeights(written)) {
      const twin = twins.find((w) => w.name === weight.name)!;
      expect([weight.location, weight.dtype, weight.shape]).toEqual(['bitmask', twin.dtype, twin.shape]);
      // float16 values of a float16 weight are the weight's own dtype: nothing lower to report.
      expect(weight.storedValues).toBe(form === 'float16' && weight.dtype === 'float16' ? undefined : form);
      expect(readWeight(written, weight)).toEqual(readWeight(readModel(denseFile), twin));
      expect(countNonzero(written, weight)).toBe(countNonzero(readModel(denseFile), twin));
    }
    // Encoded again (the values are already on the int8/float16 grid, so nothing moves), or back to dense.
    for (const [storage, again] of [['bitmask', form], ['dense', 'float32']] as const) {
      const copy = readModel(file);
      for (const weight of findWeights(copy)) updateWeight(copy, weight, readWeight(copy, weight), storage, { values: again });
      const out = path.join(dir, `${name}-${form}-again-${storage}.onnx`);
      writeFileSync(out, serializeModel(copy));
      checker(out);
      expect(maxAbsDiff(expected, await runModel(out, feeds)), storage).toBe(0);
    }
  });

  it('int8 values of a float32 weight: one scale per output channel, and the values within half a step of the originals', () => {
    if (name !== 'f32') return;
    const model = readModel(path.join(dir, 'f32.onnx'));
    const w1 = findWeights(model).find((w) => w.name === 'w1')!;
    // MatMul B [13, 7]: output channels are the 7 columns.
    expect(channelAxis(w1)).toBe(1);
    const values = readWeight(model, w1);
    const back = roundTripValues(values, w1, 'int8');
    for (let c = 0; c < 7; c++) {
      let max = 0;
      for (let r = 0; r < 13; r++) max = Math.max(max, Math.abs(values[r * 7 + c]!));
      for (let r = 0; r < 13; r++) expect(Math.abs(back[r * 7 + c]! - values[r * 7 + c]!)).toBeLessThanOrEqual((max / 127) * 0.5 + 1e-7);
    }
  });
});

describe('dense storage with float16 and int8 values (Cast/Mul decode)', () => {
  const cases = [...['f32', 'f16', 'f32x8'].map((name) => ({ label: name, source: () => path.join(dir, `${name}.onnx`) })), { label: 'paddle2onnx classifier (opset 9, every weight in a Constant node)', source: () => REAL_MODELS.paddleCls }];
  it.each(cases.flatMap((c) => (['float16', 'int8'] as const).map((form) => ({ ...c, form }))))('$label, $form values: exactly roundTripValues, checker passes, reads back, converts to bitmask/dense/sparse and back', async ({ source, form }) => {
    const file0 = source();
    const tag = path.basename(file0, '.onnx');
    const { file, denseFile, feeds, expected, encoded } = await encodeWithTwin(file0, 'dense', form, `${tag}-${form}-qdense`);

    const written = readModel(file);
    const twins = findWeights(readModel(denseFile));
    const weights = findWeights(written);
    expect(weights.map((w) => w.name).sort()).toEqual(twins.map((w) => w.name).sort());
    expect(weights.filter((w) => w.location === 'quantized')).toHaveLength(encoded);
    for (const weight of weights) {
      const twin = twins.find((w) => w.name === weight.name)!;
      expect([weight.dtype, weight.shape]).toEqual([twin.dtype, twin.shape]);
      if (weight.location === 'quantized') expect(weight.storedValues).toBe(form);
      expect(readWeight(written, weight)).toEqual(readWeight(readModel(denseFile), twin));
    }
    // Written again in every storage the model allows, from the quantized form.
    const storages = file0 === REAL_MODELS.paddleCls ? (['dense'] as const) : (['bitmask', 'dense', 'sparse'] as const);
    for (const storage of storages) {
      const copy = readModel(file);
      for (const weight of findWeights(copy)) updateWeight(copy, weight, readWeight(copy, weight), storage);
      const out = path.join(dir, `${tag}-${form}-qdense-${storage}.onnx`);
      writeFileSync(out, serializeModel(copy));
      checker(out, storage !== 'sparse');
      expect(findWeights(readModel(out)).some((w) => w.location === 'quantized'), storage).toBe(false);
      expect(maxAbsDiff(expected, await runModel(out, feeds)), storage).toBe(0);
    }
  });
});

describe('bitmask sizes and limits', () => {
  it('at 50% sparsity a float32 weight takes about 0.53x of dense', () => {
    const model = readModel(path.join(dir, 'f32.onnx'));
    const weight = { ...findWeights(model).find((w) => w.name === 'w1')!, numel: 1024 * 1024, shape: [1024, 1024] };
    const sizes = storageBytes(weight, weight.numel / 2);
    expect(sizes.bitmask / sizes.dense).toBeGreaterThan(0.53);
    expect(sizes.bitmask / sizes.dense).toBeLessThan(0.535);
    expect(sizes.sparse / sizes.dense).toBeGreaterThan(1);
  });

  it('predicts the written size of a bitmask weight within its overhead estimate', () => {
    const source = path.join(dir, 'f32.onnx');
    const model = readModel(source);
    const w1 = findWeights(model).find((w) => w.name === 'w1')!;
    const before = serializeModel(model).byteLength;
    const values = pruned(readWeight(model, w1), 'w1');
    updateWeight(model, w1, values, 'bitmask');
    const after = serializeModel(model).byteLength;
    const nnz = values.filter((v) => v !== 0).length;
    const predicted = storageBytes(w1, nnz);
    // The model grows by (bitmask - dense) up to the few bytes of the removed initializer's header.
    expect(Math.abs(after - before - (predicted.bitmask - predicted.dense))).toBeLessThan(40);
  });

  it('refuses opsets without CumSum and weights that are not main-graph initializers', () => {
    const model = parseModel(serializeModel(readModel(path.join(dir, 'f32.onnx'))));
    const weight = findWeights(model)[0]!;
    expect(bitmaskUnsupported(model, weight)).toBeUndefined();
    expect(bitmaskUnsupported({ ...model, opsets: [{ domain: '', version: 10 }] }, weight)).toMatch(/opset 10.*CumSum/);
    expect(bitmaskUnsupported(model, { ...weight, graph: 'main/If_0/then_branch[0]' })).toMatch(/not an initializer of the main graph/);
    expect(bitmaskUnsupported(model, { ...weight, location: 'constant' })).toMatch(/not an initializer of the main graph/);
    expect(() => updateWeight({ ...model, opsets: [{ domain: '', version: 10 }] }, weight, readWeight(model, weight), 'bitmask')).toThrow(/store it dense/);
  });
});

describe('hostile bitmask parts', () => {
  /** A bitmask copy of f32.onnx edited by python3-onnx (`edit` runs with `m` the loaded model). */
  function edited(suffix: string, edit: string): string {
    const file = write(path.join(dir, 'f32.onnx'), 'bitmask', `hostile-${suffix}`);
    const script = `import onnx, sys, numpy as np\nfrom onnx import numpy_helper as nh\nm = onnx.load(sys.argv[1])\ninit = {t.name: t for t in m.graph.initializer}\n${edit}\nonnx.save(m, sys.argv[1])`;
    execFileSync(PYTHON, ['-c', script, file], { stdio: 'pipe' });
    return file;
  }

  it('a values tensor that does not match the mask is an OnnxInputError naming the weight, never a wrong read', () => {
    const file = edited('values', "init['w1__values'].CopyFrom(nh.from_array(nh.to_array(init['w1__values'])[:-2], 'w1__values'))");
    const model = readModel(file);
    const w1 = findWeights(model).find((w) => w.name === 'w1')!;
    expect(w1.location).toBe('bitmask');
    for (const read of [() => readWeight(model, w1), () => countNonzero(model, w1)]) {
      expect(read).toThrow(expect.objectContaining({ name: 'OnnxInputError', message: expect.stringMatching(/bitmask weight w1 has a mask of 12 bytes and 44 values/) }));
    }
  });

  it('a model written with the first decode (int32 Div/Mod) is still read, and re-encoded with the uint8 one', async () => {
    // Rebuilds every weight's decode the way the first version wrote it.
    const file = edited(
      'first-decode',
      `from onnx import helper as h, TensorProto as T
names = [t.name[:-len('__mask')] for t in m.graph.initializer if t.name.endswith('__mask')]
for name in names:
    p = name + '__bitmask'
    dims = nh.to_array(init[p + '_shape'])
    nnz = int(nh.to_array(init[name + '__values']).size - 1)
    keep = [t for t in m.graph.initializer if not t.name.startswith(p + '_') or t.name == p + '_shape']
    del m.graph.initializer[:]
    m.graph.initializer.extend(keep)
    for k, v in [('column', np.array([-1, 1], np.int64)), ('powers', np.array([1, 2, 4, 8, 16, 32, 64, 128], np.int32)), ('two', np.array(2, np.int32)), ('flat', np.array([-1], np.int64)), ('start', np.array([0], np.int64)), ('numel', np.array([int(np.prod(dims))], np.int64)), ('axis', np.array(0, np.int32)), ('nnz', np.array(nnz, np.int32))]:
        m.graph.initializer.append(nh.from_array(v, p + '_' + k))
    c = lambda s: p + '_' + s
    o = lambda s: p + '/' + s
    old = [h.make_node('Cast', [name + '__mask'], [o('bytes')], to=T.INT32, name=o('cast_bytes')), h.make_node('Reshape', [o('bytes'), c('column')], [o('column')], name=o('reshape_column')),
        h.make_node('Div', [o('column'), c('powers')], [o('shifted')], name=o('div')), h.make_node('Mod', [o('shifted'), c('two')], [o('bit_matrix')], name=o('mod')),
        h.make_node('Reshape', [o('bit_matrix'), c('flat')], [o('padded_bits')], name=o('reshape_flat')), h.make_node('Slice', [o('padded_bits'), c('start'), c('numel')], [o('bits')], name=o('slice')),
        h.make_node('Cast', [o('bits')], [o('kept')], to=T.BOOL, name=o('cast_kept')), h.make_node('CumSum', [o('bits'), c('axis')], [o('position')], exclusive=1, name=o('cumsum')),
        h.make_node('Where', [o('kept'), o('position'), c('nnz')], [o('index')], name=o('where')), h.make_node('Gather', [name + '__values', o('index')], [o('dense')], axis=0, name=o('gather')),
        h.make_node('Reshape', [o('dense'), p + '_shape'], [name], name=o('reshape'))]
    rest = [n for n in m.graph.node if not n.name.startswith(p + '/')]
    del m.graph.node[:]
    m.graph.node.extend(old + rest)
onnx.checker.check_model(m, full_check=True)`,
    );
    const current = write(path.join(dir, 'f32.onnx'), 'bitmask', 'current-decode');
    const feeds = await feedsFor(path.join(dir, 'f32.onnx'));
    const expected = await runModel(current, feeds);
    expect(maxAbsDiff(expected, await runModel(file, feeds))).toBeLessThanOrEqual(1e-6);
    const [model, currentModel] = [readModel(file), readModel(current)];
    const weights = findWeights(model);
    expect(weights.filter((w) => w.location === 'bitmask').map((w) => w.name).sort()).toEqual(['w1', 'w2', 'w3']);
    for (const weight of weights) expect(readWeight(model, weight)).toEqual(readWeight(currentModel, findWeights(currentModel).find((w) => w.name === weight.name)!));
    for (const weight of weights) updateWeight(model, weight, readWeight(model, weight), 'bitmask');
    const again = path.join(dir, 'f32-first-decode-again.onnx');
    writeFileSync(again, serializeModel(model));
    checker(again);
    const ops = parseModel(readFileSync(again)).graph.nodes.map((n) => n.opType);
    expect(ops).not.toContain('Mod');
    expect(ops.filter((op) => op === 'BitShift')).toHaveLength(6);
    expect(maxAbsDiff(expected, await runModel(again, feeds))).toBeLessThanOrEqual(1e-6);
  });

  it('a shape that disagrees with the mask (or is negative) is not taken for a weight', () => {
    for (const [suffix, dims] of [['shape', '[13, 8]'], ['negative', '[-13, -7]']] as const) {
      const file = edited(suffix, `init['w1__bitmask_shape'].CopyFrom(nh.from_array(np.array(${dims}, np.int64), 'w1__bitmask_shape'))`);
      const names = findWeights(readModel(file)).map((w) => w.name);
      expect(names).not.toContain('w1');
      expect(names).toContain('w3');
    }
  });
});
