/** The output check compares shapes before numbers: a model that computes another shape is broken. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { measureFidelity, type OrtRuntime } from '../src/index.js';

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
