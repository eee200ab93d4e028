"""Generates a ~200 MB (50M-parameter) MLP-like ONNX model for the benchmarks.
Usage: /usr/bin/python3 make_large_model.py OUT.onnx [LAYERS] [WIDTH]"""
import sys
import numpy as np
import onnx
from onnx import helper as h, numpy_helper as nh, TensorProto as T
from output_arg import output_path

out = output_path('python3 bench/make_large_model.py OUT.onnx [LAYERS] [WIDTH] (a Gemm chain with seeded random weights)')
layers = int(sys.argv[2]) if len(sys.argv) > 2 else 50
width = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
rng = np.random.default_rng(0)
inits, nodes, prev = [], [], 'x'
for i in range(layers):
    w = (rng.standard_normal((width, width), dtype=np.float32) / np.sqrt(width)).astype(np.float32)
    inits.append(nh.from_array(w, f'layer{i}.weight'))
    nodes.append(h.make_node('MatMul', [prev, f'layer{i}.weight'], [f'h{i}']))
    nodes.append(h.make_node('Relu', [f'h{i}'], [f'a{i}']))
    prev = f'a{i}'
nodes[-1] = h.make_node('Identity', [f'h{layers - 1}'], ['y'])
g = h.make_graph(nodes, 'large', [h.make_tensor_value_info('x', T.FLOAT, [1, width])], [h.make_tensor_value_info('y', T.FLOAT, [1, width])], initializer=inits)
m = h.make_model(g, opset_imports=[h.make_opsetid('', 13)])
m.ir_version = 8
onnx.save(m, out)
