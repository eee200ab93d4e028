"""Baseline for the pruning benchmark: per-weight magnitude pruning to sparsity S with python3-onnx and
numpy, written back dense (what a user would script today). Prints JSON with seconds and peak RSS.
Usage: /usr/bin/python3 magnitude_baseline.py IN.onnx OUT.onnx [SPARSITY]"""
import json, resource, sys, time
import numpy as np
import onnx
from onnx import numpy_helper as nh

start = time.perf_counter()
src, dst = sys.argv[1], sys.argv[2]
sparsity = float(sys.argv[3]) if len(sys.argv) > 3 else 0.5
m = onnx.load(src)
weights = {n.input[1] for n in m.graph.node if n.op_type in ('MatMul', 'Gemm', 'Conv')}
for i, t in enumerate(m.graph.initializer):
    if t.name not in weights or len(t.dims) < 2:
        continue
    w = nh.to_array(t).copy()
    k = int(round(sparsity * w.size))
    if k > 0:
        flat = np.abs(w).reshape(-1)
        idx = np.argpartition(flat, k - 1)[:k]
        w.reshape(-1)[idx] = 0
    m.graph.initializer[i].CopyFrom(nh.from_array(w, t.name))
onnx.save(m, dst)
elapsed = time.perf_counter() - start
print(json.dumps({'seconds': elapsed, 'peakRssBytes': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
