/**
 * The payload for `--remote-runtime python`: the same protocol (session creation timed, warm-up, timed
 * runs, repetitions, inputs from the model's metadata with --shape overrides) for boards that have
 * python3 and its onnxruntime but no node. It prints the same result and error lines as the node payload.
 */
export const PYTHON_PAYLOAD = String.raw`
import json, os, platform, resource, sys, time
R, E = "@@specprune-result ", "@@specprune-error "
def fail(stage, message):
    print(E + json.dumps({"stage": stage, "message": str(message)}), flush=True); sys.exit(3)
try:
    import numpy as np
    import onnxruntime as ort
except Exception as error:
    fail("runtime", "python3 cannot import onnxruntime and numpy (%s)" % error)
config = json.load(open(sys.argv[1]))
TYPES = {"tensor(float)": ("float32", np.float32), "tensor(double)": ("float64", np.float64), "tensor(float16)": ("float16", np.float16),
         "tensor(int8)": ("int8", np.int8), "tensor(uint8)": ("uint8", np.uint8), "tensor(int16)": ("int16", np.int16), "tensor(uint16)": ("uint16", np.uint16),
         "tensor(int32)": ("int32", np.int32), "tensor(uint32)": ("uint32", np.uint32), "tensor(int64)": ("int64", np.int64), "tensor(uint64)": ("uint64", np.uint64), "tensor(bool)": ("bool", np.bool_)}
def resolve(inputs, shapes):
    names = {i.name for i in inputs}; out = []
    for i in inputs:
        if i.type not in TYPES: fail("inputs", 'Input "%s" has element type %s, which bench cannot generate' % (i.name, i.type))
        dtype = TYPES[i.type][0]
        if i.name in shapes: out.append((i.name, dtype, list(shapes[i.name]))); continue
        shape = []
        for k, d in enumerate(i.shape):
            if isinstance(d, int) and d > 0: shape.append(d); continue
            if isinstance(d, str) and d and d not in names and len(shapes.get(d, [])) == 1: shape.append(shapes[d][0]); continue
            if (k == 0 and len(i.shape) >= 2) or (isinstance(d, str) and "batch" in d.lower()): shape.append(1); continue
            fail("inputs", 'Input "%s" has an open dimension %d (%s); give the size you run it at, e.g. --shape %s=%s' % (i.name, k, d or "unnamed", i.name, "x".join(str(x) if isinstance(x, int) and x > 0 else ("1" if j == 0 else "128") for j, x in enumerate(i.shape))))
        out.append((i.name, dtype, shape))
    return out
def generate(spec, rng):
    name, dtype, shape = spec; numpy_type = dict(TYPES.values())[dtype]
    if dtype.startswith("float"): return (rng.random(shape) * 2 - 1).astype(numpy_type)
    if dtype == "bool": return rng.random(shape) < 0.5
    return np.floor(rng.random(shape) * 8).astype(numpy_type)
options = ort.SessionOptions()
if config["threads"] > 0: options.intra_op_num_threads = config["threads"]
reps, specs = [], []
for rep in range(config["repetitions"]):
    start = time.perf_counter()
    try: session = ort.InferenceSession(config["model"], options, providers=["CPUExecutionProvider"])
    except Exception as error: fail("load", error)
    create_ms = (time.perf_counter() - start) * 1000
    if rep == 0: specs = resolve(session.get_inputs(), config["shapes"])
    rng = np.random.default_rng(config["seed"])
    feeds = {s[0]: generate(s, rng) for s in specs}
    latencies = []
    try:
        for _ in range(config["warmup"]): session.run(None, feeds)
        for _ in range(config["runs"]):
            t0 = time.perf_counter(); session.run(None, feeds); latencies.append((time.perf_counter() - t0) * 1000)
    except Exception as error: fail("run", error)
    reps.append({"sessionCreateMs": create_ms, "latenciesMs": latencies})
peak, source = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "ru_maxrss"
try:
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"): peak, source = int(line.split()[1]) * 1024, "VmHWM"
except OSError: pass
machine = platform.machine()
print(R + json.dumps({"device": {"arch": {"x86_64": "x64", "aarch64": "arm64", "armv7l": "arm"}.get(machine, machine), "os": platform.platform(),
    "runtime": "onnxruntime (python)", "runtimeVersion": ort.__version__, "engine": "Python " + platform.python_version()},
    "repetitions": reps, "inputs": [{"name": n, "dtype": d, "shape": s} for n, d, s in specs], "peakMemoryBytes": peak, "peakMemorySource": source}), flush=True)
`;
