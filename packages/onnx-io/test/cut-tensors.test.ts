/**
 * Cuts of the main graph (what the sensitivity scan runs downstream of a changed weight): the tensors that
 * cross a cut, including a residual branch read after it, and a cut model that onnx.checker accepts.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cutModelBefore, cutTensors, parseModel, serializeModel } from '../src/index.js';

const dir = mkdtempSync(path.join(tmpdir(), 'specprune-cut-'));

/** x -> MatMul W1 -> a -> Relu -> b -> MatMul W2 -> c; y = c + a (a residual read after the cut before MatMul W2). */
function residual(): Uint8Array {
  const script = path.join(dir, 'res.py');
  writeFileSync(
    script,
    `import sys, numpy as np, onnx
from onnx import helper as h, numpy_helper as nh, TensorProto as T
rng = np.random.default_rng(2)
w1 = nh.from_array(rng.standard_normal((8, 8)).astype(np.float32), 'W1')
w2 = nh.from_array(rng.standard_normal((8, 8)).astype(np.float32), 'W2')
nodes = [h.make_node('MatMul', ['x', 'W1'], ['a']), h.make_node('Relu', ['a'], ['b']), h.make_node('MatMul', ['b', 'W2'], ['c']), h.make_node('Add', ['c', 'a'], ['y'])]
g = h.make_graph(nodes, 'res', [h.make_tensor_value_info('x', T.FLOAT, [1, 8])], [h.make_tensor_value_info('y', T.FLOAT, [1, 8])], initializer=[w1, w2])
m = h.make_model(g, opset_imports=[h.make_opsetid('', 13)]); m.ir_version = 8
onnx.save(m, sys.argv[1])
`,
  );
  const file = path.join(dir, 'res.onnx');
  execFileSync('/usr/bin/python3', [script, file]);
  return new Uint8Array(readFileSync(file));
}

describe('cuts of the main graph', () => {
  it('names the tensors crossing a cut, the residual branch included, and builds a model onnx.checker accepts', () => {
    const bytes = residual();
    const graph = parseModel(bytes).graph;
    expect(cutTensors(graph, 2)?.sort()).toEqual(['a', 'b']);
    expect(cutTensors(graph, 3)?.sort()).toEqual(['a', 'c']);
    expect(cutTensors(graph, 0)).toEqual([]);
    const model = parseModel(bytes);
    cutModelBefore(model, 2, [
      { name: 'b', dataType: 1, dims: [1, 8] },
      { name: 'a', dataType: 1, dims: [1, 8] },
    ]);
    const file = path.join(dir, 'cut.onnx');
    writeFileSync(file, serializeModel(model));
    const cut = parseModel(new Uint8Array(readFileSync(file))).graph;
    expect(cut.nodes.map((n) => n.opType)).toEqual(['MatMul', 'Add']);
    expect(cut.inputs).toEqual(expect.arrayContaining(['x', 'a', 'b']));
    execFileSync('/usr/bin/python3', ['-c', 'import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)', file]);
  });

  it('has no cut where a graph output is produced before it', () => {
    const model = parseModel(residual());
    // Pretend the Relu's output is also a graph output: a cut after the Relu could not give it.
    model.graph.outputs.push('b');
    expect(cutTensors(model.graph, 2)).toBeUndefined();
  });
});
