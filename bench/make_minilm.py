"""Generates a MiniLM-L6-shaped transformer encoder (ONNX, opset 17) with seeded random weights for the speed
benchmark (issue 14): 6 layers, hidden 384, 12 heads, FFN 1536, sequence 128; input float32 embeddings
x [1,128,384]; Q/K/V/output/FFN weights as MatMul initialisers with Add biases, LayerNormalization, GELU
written with Erf. About 10.6M weights, ~43 MB. Weights ~ N(0, 0.02^2) as in BERT-style initialisation.
Usage: /usr/bin/python3 make_minilm.py OUT.onnx"""
import sys
import numpy as np
import onnx
from onnx import helper as h, numpy_helper as nh, TensorProto as T
from output_arg import output_path

out = output_path('python3 bench/make_minilm.py OUT.onnx (writes a 43 MB MiniLM-L6-shaped encoder with seeded random weights)')
LAYERS, HIDDEN, HEADS, FFN, SEQ = 6, 384, 12, 1536, 128
HEAD = HIDDEN // HEADS
rng = np.random.default_rng(6)
inits, nodes = [], []


def const(name, array):
    inits.append(nh.from_array(np.asarray(array), name))
    return name


def node(op, inputs, output, **attrs):
    nodes.append(h.make_node(op, inputs, [output], name=output, **attrs))
    return output


def linear(x, name, cin, cout):
    w = const(f'{name}.weight', (0.02 * rng.standard_normal((cin, cout))).astype(np.float32))
    b = const(f'{name}.bias', (0.02 * rng.standard_normal(cout)).astype(np.float32))
    return node('Add', [node('MatMul', [x, w], f'{name}.mm'), b], f'{name}.out')


def layer_norm(x, name):
    gamma = const(f'{name}.gamma', (1 + 0.05 * rng.standard_normal(HIDDEN)).astype(np.float32))
    beta = const(f'{name}.beta', (0.02 * rng.standard_normal(HIDDEN)).astype(np.float32))
    return node('LayerNormalization', [x, gamma, beta], f'{name}.out', axis=-1, epsilon=1e-12)


heads_shape = const('heads_shape', np.array([1, SEQ, HEADS, HEAD], np.int64))
hidden_shape = const('hidden_shape', np.array([1, SEQ, HIDDEN], np.int64))
scale = const('attn_scale', np.array(1 / np.sqrt(HEAD), np.float32))
half, one, rsqrt2 = const('half', np.array(0.5, np.float32)), const('one', np.array(1, np.float32)), const('rsqrt2', np.array(1 / np.sqrt(2), np.float32))

x = layer_norm('x', 'embeddings.norm')
for i in range(LAYERS):
    p = f'layer{i}'
    split = {}
    for part in ('query', 'key', 'value'):
        y = node('Reshape', [linear(x, f'{p}.attention.{part}', HIDDEN, HIDDEN), heads_shape], f'{p}.{part}.heads')
        perm = [0, 2, 3, 1] if part == 'key' else [0, 2, 1, 3]
        split[part] = node('Transpose', [y], f'{p}.{part}.t', perm=perm)
    scores = node('Mul', [node('MatMul', [split['query'], split['key']], f'{p}.scores.raw'), scale], f'{p}.scores')
    probs = node('Softmax', [scores], f'{p}.probs', axis=-1)
    ctx = node('Transpose', [node('MatMul', [probs, split['value']], f'{p}.ctx.heads')], f'{p}.ctx.t', perm=[0, 2, 1, 3])
    ctx = node('Reshape', [ctx, hidden_shape], f'{p}.ctx')
    attn = linear(ctx, f'{p}.attention.output', HIDDEN, HIDDEN)
    x = layer_norm(node('Add', [attn, x], f'{p}.attention.residual'), f'{p}.attention.norm')
    u = linear(x, f'{p}.intermediate', HIDDEN, FFN)
    gelu = node('Mul', [node('Mul', [u, half], f'{p}.gelu.half'),
                        node('Add', [node('Erf', [node('Mul', [u, rsqrt2], f'{p}.gelu.scaled')], f'{p}.gelu.erf'), one], f'{p}.gelu.1p')], f'{p}.gelu')
    ffn = linear(gelu, f'{p}.output', FFN, HIDDEN)
    x = layer_norm(node('Add', [ffn, x], f'{p}.output.residual'), f'{p}.output.norm')
nodes.append(h.make_node('Identity', [x], ['last_hidden_state'], name='output'))

g = h.make_graph(nodes, 'minilm_l6_shaped', [h.make_tensor_value_info('x', T.FLOAT, [1, SEQ, HIDDEN])],
                 [h.make_tensor_value_info('last_hidden_state', T.FLOAT, [1, SEQ, HIDDEN])], initializer=inits)
m = h.make_model(g, opset_imports=[h.make_opsetid('', 17)], producer_name='specprune-bench')
m.ir_version = 8
onnx.checker.check_model(m)
onnx.save(m, out)
params = sum(int(np.prod(t.dims)) for t in inits if t.data_type == T.FLOAT)
print(f'{out}: {LAYERS} layers, {params} float weights', file=sys.stderr)
