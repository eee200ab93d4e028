/** The output check compares shapes before numbers: a model that computes another shape is broken. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { blindComparison, INPUT_BLIND_VARIATION, measureFidelity, OutputAgreement, type OrtRuntime } from '../src/index.js';

const runtime = ort as unknown as OrtRuntime;
const dir = mkdtempSync(path.join(tmpdir(), 'specprune-fidelity-'));

/** y = x · W with W [4, columns] (seeded), x [1, 4]. */
function matmul(columns: number, name: string): Uint8Array {
  const file = path.join(dir, `${name}.onnx`);
  const script = `import numpy as np, onnx, sys
from onnx import helper as h, TensorProto as T, numpy_helper as nh
w = np.random.default_rng(3).standard_normal((4, ${columns})).astype(np.float32)
g = h.make_graph([h.make_node('MatMul', ['x', 'w'], ['y'])], 'g', [h.make_tensor_value_info('x', T.FLOAT, [1, 4])], [h.make_tensor_value_info('y', T.FLOAT, [1, ${columns}])], [nh.from_array(w, 'w')])
onnx.save(h.make_model(g, opset_imports=[h.make_opsetid('', 13)]), sys.argv[1])`;
  execFileSync('/usr/bin/python3', ['-c', script, file]);
  return new Uint8Array(readFileSync(file));
}

describe('measureFidelity', () => {
  const samples = [{ x: new ort.Tensor('float32', Float32Array.from([1, -2, 0.5, 3]), [1, 4]) }];

  it('the same model agrees with itself (cosine 1, no error)', async () => {
    const original = matmul(3, 'three');
    const session = await ort.InferenceSession.create(original);
    const baseline = [await session.run(samples[0]!)];
    const fidelity = await measureFidelity(runtime, original, 'the model', samples, baseline as never, 'random');
    expect(fidelity.minCosine).toBeCloseTo(1, 6);
    expect(fidelity.outputs[0]!.maxAbsError).toBe(0);
  });

  it('an output of another shape is an error naming the output and both shapes, even where the common values agree', async () => {
    const session = await ort.InferenceSession.create(matmul(3, 'three'));
    const baseline = [await session.run(samples[0]!)];
    // A longer output than the original's was once compared on its first values only, with no error.
    await expect(measureFidelity(runtime, matmul(4, 'four'), 'the pruned model', samples, baseline as never, 'random')).rejects.toThrow(/output y has shape \[1, 4\] where the original's is \[1, 3\]/);
  });
});

describe('how much the inputs move the reference (referenceVariation) and the warning when they barely do', () => {
  it('is the share of the reference output\'s energy that differs from input to input; null with one input; the candidate does not enter it', () => {
    const agreement = new OutputAgreement('y', undefined);
    agreement.add([1, 2], [0, 0]);
    expect(agreement.result().referenceVariation).toBeNull();
    agreement.add([3, 2], [5, 5]);
    // Mean [2, 2]: deviations [-1, 0] and [1, 0] carry 2 of the 1 + 4 + 9 + 4 = 18 summed squares.
    expect(agreement.result().referenceVariation).toBeCloseTo(2 / 18, 12);
    const same = new OutputAgreement('y', undefined);
    for (let k = 0; k < 3; k++) same.add([0.5], [0.4]);
    expect(same.result().referenceVariation).toBe(0);
  });

  it('warns, naming the output and what to do, exactly when some output varies by less than INPUT_BLIND_VARIATION', () => {
    const output = (name: string, variation: number | null, cos = 0.997) => ({ name, cosine: cos, maxAbsError: 0, top1Agreement: null, nonFinite: 0, referenceVariation: variation });
    expect(blindComparison([output('y', INPUT_BLIND_VARIATION), output('z', null)], 'random', 'model.onnx')).toBeUndefined();
    const random = blindComparison([output('y', 0.3), output('logits', 0.006, 0.995)], 'random', 'model.onnx');
    expect(random).toBe("the random check inputs barely move model.onnx's output logits (0.6% of the original's output differs from one input to another), so the pruned model's cosine 0.995 to it there cannot show that it still computes what the original does: give real samples with --calibration DIR (they become the check inputs), or measure its task accuracy on real data.");
    expect(blindComparison([output('logits', 0.0004)], 'calibration', 'model.onnx')).toMatch(/calibration check inputs barely move model\.onnx's output logits \(0\.04% .*\(specprune eval --inputs DIR\)/);
  });
});
