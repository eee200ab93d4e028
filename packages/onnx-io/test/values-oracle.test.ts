/**
 * Lower-precision values (--values float16|int8) against an independent oracle: numpy rounds the same pruned
 * weights by the ONNX layout rules alone (fixtures/values_oracle.py), and the encoded model, run in
 * onnxruntime-node, must compute exactly what the dense model with numpy's weights computes. Weights in float64,
 * float32 and float16, odd sizes, an all-zero output channel, a weight with no zero; bitmask and dense storage.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { findWeights, readWeight, serializeModel, updateWeight, type ValueForm } from '../src/index.js';
import { readModel } from '../src/node.js';
import { makeFeeds, PYTHON, runModel, tempDir } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const oracle = path.join(here, 'fixtures/values_oracle.py');
let dir: string;
let source: string;
let pruned: string;

/** Every other element zero, except wt, which keeps all. */
function prune(values: Float32Array, name: string): Float32Array {
  const out = values.slice();
  if (name !== 'wt') for (let i = 0; i < out.length; i += 2) out[i] = 0;
  return out;
}

function checker(file: string): void {
  execFileSync(PYTHON, ['-c', 'import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)', file], { stdio: 'pipe' });
}

beforeAll(() => {
  dir = tempDir('specprune-values-oracle-');
  source = path.join(dir, 'source.onnx');
  execFileSync(PYTHON, [oracle, 'make', source], { stdio: 'pipe' });
  const model = readModel(source);
  for (const weight of findWeights(model)) updateWeight(model, weight, prune(readWeight(model, weight), weight.name), 'dense');
  pruned = path.join(dir, 'pruned.onnx');
  writeFileSync(pruned, serializeModel(model));
});

describe('lower-precision values against numpy', () => {
  const cases = (['float16', 'int8'] as const).flatMap((form) => (['bitmask', 'dense'] as const).map((storage) => ({ form, storage })));
  it.each(cases)('$form values, $storage storage: decoded weights and outputs equal the numpy-rounded dense model; checker passes; reported per weight', async ({ form, storage }) => {
    const expectedFile = path.join(dir, `numpy-${form}.onnx`);
    execFileSync(PYTHON, [oracle, 'round', pruned, form, expectedFile], { stdio: 'pipe' });

    const model = readModel(pruned);
    const lowered: Record<string, ValueForm> = {};
    for (const weight of findWeights(model)) {
      // float16 values of the float16 weight are its own dtype: stored as it is (numpy's round trip is the identity).
      const asked: ValueForm = form === 'float16' && weight.dtype === 'float16' ? 'float32' : form;
      lowered[weight.name] = asked;
      updateWeight(model, weight, readWeight(model, weight), storage, { values: asked });
    }
    const file = path.join(dir, `encoded-${form}-${storage}.onnx`);
    writeFileSync(file, serializeModel(model));
    checker(file);

    const written = readModel(file);
    const numpyModel = readModel(expectedFile);
    const weights = findWeights(written);
    expect(weights.map((w) => [w.name, w.dtype]).sort()).toEqual([['wc', 'float32'], ['wd', 'float64'], ['wh', 'float16'], ['wt', 'float32']]);
    for (const weight of weights) {
      const twin = findWeights(numpyModel).find((w) => w.name === weight.name)!;
      // What the tool says a weight holds (its stored value dtype and its decoded values) is numpy's answer.
      expect(weight.storedValues, weight.name).toBe(lowered[weight.name] === 'float32' ? undefined : form);
      expect(weight.location, weight.name).toBe(storage === 'bitmask' ? 'bitmask' : lowered[weight.name] === 'float32' ? 'initializer' : 'quantized');
      expect(Array.from(readWeight(written, weight)), weight.name).toEqual(Array.from(readWeight(numpyModel, twin)));
    }
    // The tiny float16 channel keeps its values (a float16 scale would have zeroed it).
    const wh = findWeights(written).find((w) => w.name === 'wh')!;
    const column3 = Array.from(readWeight(written, wh)).filter((_, i) => i % 9 === 3);
    expect(column3.filter((v) => v !== 0).length).toBe(Array.from(readWeight(readModel(pruned), wh)).filter((v, i) => i % 9 === 3 && v !== 0).length);
    // The runtime's decode computes numpy's weights: the outputs are the same numbers.
    const feeds = await makeFeeds(source);
    const [expected, actual] = [await runModel(expectedFile, feeds), await runModel(file, feeds)];
    expect(Object.keys(actual).sort()).toEqual(['y1', 'y2', 'y3']);
    for (const name of Object.keys(expected)) expect(actual[name], name).toEqual(expected[name]);
    // And the rounding did something: int8 moves the float32 outputs (all but the all-zero channel's).
    if (form === 'int8') expect(actual.y2).not.toEqual((await runModel(pruned, feeds)).y2);
  });
});
