"""Generates a ResNet-50-shaped ONNX CNN with seeded random weights for the speed benchmark (issue 14).
53 Conv (BatchNorm folded into their biases, as exported inference models are) + Relu, bottleneck residual
blocks [3, 4, 6, 3] with Add, MaxPool, GlobalAveragePool, Flatten, Gemm 2048x1000; input x [1,3,224,224].
About 25.5M weights, ~102 MB. He-initialised convs; the last conv of each block is scaled by a folded
BatchNorm gamma of 0.2 so activations stay finite and moderate through the 16 residual additions.
Usage: /usr/bin/python3 make_resnet50.py OUT.onnx"""
import sys
import numpy as np
import onnx
from onnx import helper as h, numpy_helper as nh, TensorProto as T
from output_arg import output_path

out = output_path('python3 bench/make_resnet50.py OUT.onnx (writes a 102 MB ResNet-50-shaped model with seeded random weights)')
rng = np.random.default_rng(50)
inits, nodes = [], []


def conv(x, name, cin, cout, k, stride=1, gamma=1.0, relu=True):
    fan_in = cin * k * k
    w = rng.standard_normal((cout, cin, k, k), dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in))
    w *= (gamma * (1 + 0.1 * rng.standard_normal(cout))).astype(np.float32)[:, None, None, None]
    b = (0.01 * rng.standard_normal(cout)).astype(np.float32)
    inits.append(nh.from_array(w.astype(np.float32), f'{name}.weight'))
    inits.append(nh.from_array(b, f'{name}.bias'))
    p = k // 2
    nodes.append(h.make_node('Conv', [x, f'{name}.weight', f'{name}.bias'], [f'{name}.out'], kernel_shape=[k, k],
                             strides=[stride, stride], pads=[p, p, p, p], name=name))
    if not relu:
        return f'{name}.out'
    nodes.append(h.make_node('Relu', [f'{name}.out'], [f'{name}.relu'], name=f'{name}.relu'))
    return f'{name}.relu'


x = conv('x', 'conv1', 3, 64, 7, stride=2)
nodes.append(h.make_node('MaxPool', [x], ['pool1'], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], name='maxpool'))
x, cin = 'pool1', 64
for stage, (blocks, width) in enumerate(zip([3, 4, 6, 3], [64, 128, 256, 512]), start=1):
    for b in range(blocks):
        stride = 2 if b == 0 and stage > 1 else 1
        n = f'layer{stage}.{b}'
        y = conv(x, f'{n}.conv1', cin, width, 1)
        y = conv(y, f'{n}.conv2', width, width, 3, stride=stride)
        y = conv(y, f'{n}.conv3', width, width * 4, 1, gamma=0.2, relu=False)
        skip = conv(x, f'{n}.downsample', cin, width * 4, 1, stride=stride, relu=False) if b == 0 else x
        nodes.append(h.make_node('Add', [y, skip], [f'{n}.sum'], name=f'{n}.add'))
        nodes.append(h.make_node('Relu', [f'{n}.sum'], [f'{n}.out'], name=f'{n}.relu'))
        x, cin = f'{n}.out', width * 4
nodes.append(h.make_node('GlobalAveragePool', [x], ['gap'], name='avgpool'))
nodes.append(h.make_node('Flatten', ['gap'], ['flat'], axis=1, name='flatten'))
fc = (rng.standard_normal((1000, 2048), dtype=np.float32) / np.float32(np.sqrt(2048))).astype(np.float32)
inits.append(nh.from_array(fc, 'fc.weight'))
inits.append(nh.from_array(np.zeros(1000, np.float32), 'fc.bias'))
nodes.append(h.make_node('Gemm', ['flat', 'fc.weight', 'fc.bias'], ['logits'], transB=1, name='fc'))

g = h.make_graph(nodes, 'resnet50_shaped', [h.make_tensor_value_info('x', T.FLOAT, [1, 3, 224, 224])],
                 [h.make_tensor_value_info('logits', T.FLOAT, [1, 1000])], initializer=inits)
m = h.make_model(g, opset_imports=[h.make_opsetid('', 13)], producer_name='specprune-bench')
m.ir_version = 8
onnx.checker.check_model(m)
onnx.save(m, out)
convs = sum(1 for nd in nodes if nd.op_type == 'Conv')
params = sum(int(np.prod(t.dims)) for t in inits)
print(f'{out}: {convs} Conv, {params} weights', file=sys.stderr)
