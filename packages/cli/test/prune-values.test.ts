/** prune --values: float16 and int8 values under bitmask storage, chosen per weight by measured output distortion. */
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MODELS, ROOT, runCli, tempDir } from './helpers.js';

interface PruneJson {
  output: { bytes: number };
  weights: Array<{ name: string; storage: string; values: string; sparsity: number }>;
  fidelity: { measured: boolean; minCosine: number };
}

let dir: string;
const mlp = () => path.join(dir, 'mlp.onnx');

beforeAll(() => {
  dir = tempDir('specprune-values-');
  // 4 layers of 256x256 float32, opset 13.
  execFileSync('/usr/bin/python3', [path.join(ROOT, 'bench/make_large_model.py'), mlp(), '4', '256'], { stdio: 'pipe' });
});

describe('prune --values', () => {
  it('float16 and int8 values shrink the bitmask model (about 0.29x and 0.17x of the dense file at 50%), are reported per weight and read back by inspect, eval and a second prune', async () => {
    const sizes: Record<string, number> = {};
    for (const values of ['float32', 'float16', 'int8']) {
      const out = path.join(dir, `mlp.${values}.onnx`);
      const result = await runCli(['prune', mlp(), '-o', out, '--values', values, '--json']);
      expect(result.code, result.stderr).toBe(0);
      const doc = result.json<PruneJson>();
      expect(doc.weights.map((w) => w.storage)).toEqual(doc.weights.map(() => 'bitmask'));
      // The default measured choice: each weight at the asked precision or a higher one, never lower.
      const order = ['int8', 'float16', 'float32'];
      for (const w of doc.weights) expect(order.indexOf(w.values), w.name).toBeGreaterThanOrEqual(order.indexOf(values));
      expect(doc.weights.some((w) => w.values === values)).toBe(true);
      expect(doc.fidelity.measured).toBe(true);
      sizes[values] = statSync(out).size;

      const inspect = await runCli(['inspect', out, '--json']);
      expect(inspect.code, inspect.stderr).toBe(0);
      const listed = inspect.json<{ weights: Array<{ name: string; dtype: string; values?: string }> }>().weights;
      for (const w of doc.weights) {
        const seen = listed.find((l) => l.name === w.name)!;
        expect(seen.dtype).toBe('float32');
        expect(seen.values).toBe(w.values === 'float32' ? undefined : w.values);
      }
    }
    const dense = statSync(mlp()).size;
    expect(sizes.float32! / dense).toBeLessThan(0.56);
    expect(sizes.float16! / dense).toBeLessThan(0.3);
    expect(sizes.int8! / dense).toBeLessThan(0.18);

    // eval compares the int8 model with the original in onnxruntime-node; a second prune re-encodes it.
    const int8 = path.join(dir, 'mlp.int8.onnx');
    const evaluated = await runCli(['eval', mlp(), int8, '--json']);
    expect(evaluated.code, evaluated.stderr).toBe(0);
    const again = await runCli(['prune', int8, '-o', path.join(dir, 'mlp.int8.again.onnx'), '--values', 'int8', '--sparsity', '0.6', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.json<PruneJson>().fidelity.measured).toBe(true);
    expect(again.json<PruneJson>().fidelity.minCosine).toBeGreaterThan(0.5);
  });

  it('with --target-bytes: sizes are predicted at the asked precision, every weight keeps it, the target holds at a lower sparsity than with float32 values', async () => {
    const target = 150_000;
    const results: Record<string, PruneJson & { sparsity: number }> = {};
    for (const values of ['float32', 'int8']) {
      const out = path.join(dir, `mlp.target.${values}.onnx`);
      const result = await runCli(['prune', mlp(), '-o', out, '--target-bytes', String(target), '--values', values, '--json']);
      expect(result.code, result.stderr).toBe(0);
      expect(statSync(out).size).toBeLessThanOrEqual(target);
      results[values] = result.json<PruneJson & { sparsity: number }>();
    }
    expect(results.int8!.weights.map((w) => w.values)).toEqual(results.int8!.weights.map(() => 'int8'));
    expect(results.int8!.sparsity).toBeLessThan(results.float32!.sparsity - 0.2);
  });

  it('--target-bytes without --values chooses the precision too: each that fits is tried (magnitude trial, outputs compared) and the closest wins', async () => {
    const target = 150_000;
    const out = path.join(dir, 'mlp.target.auto.onnx');
    const result = await runCli(['prune', mlp(), '-o', out, '--target-bytes', String(target), '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(statSync(out).size).toBeLessThanOrEqual(target);
    const doc = result.json<PruneJson & { sparsity: number; precision: { values: string; sparsity: number; candidates: Array<{ values: string; sparsity: number; minCosine: number }> } }>();
    expect(doc.precision.candidates.map((c) => c.values)).toEqual(['float32', 'float16', 'int8']);
    // Lower precision fits at lower sparsity.
    const [f32, f16, i8] = doc.precision.candidates;
    expect(f16!.sparsity).toBeLessThan(f32!.sparsity);
    expect(i8!.sparsity).toBeLessThan(f16!.sparsity);
    const best = doc.precision.candidates.reduce((a, b) => (b.minCosine >= a.minCosine ? b : a));
    expect(doc.precision.values).toBe(best.values);
    expect(doc.weights.map((w) => w.values)).toEqual(doc.weights.map(() => best.values));
    expect(result.stderr).toMatch(/target bytes: \w+ values at [\d.]+% sparsity, of float32 at/);
  });

  it('with --granularity 2:4 and --calibration: the pattern holds after rounding (rounding only adds zeros) and the values are reported per weight', async () => {
    const samples = path.join(dir, 'samples');
    execFileSync('/usr/bin/python3', ['-c', `import numpy as np, os, sys\nos.makedirs(sys.argv[1], exist_ok=True)\nr = np.random.default_rng(3)\nfor k in range(8): np.save(os.path.join(sys.argv[1], f"s{k}.npy"), r.standard_normal((1, 256)).astype(np.float32))`, samples]);
    const out = path.join(dir, 'mlp.24.int8.onnx');
    const result = await runCli(['prune', mlp(), '-o', out, '--granularity', '2:4', '--calibration', samples, '--values', 'int8', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const doc = result.json<PruneJson>();
    for (const w of doc.weights) expect(w.sparsity, w.name).toBeGreaterThanOrEqual(0.5);
    expect(doc.weights.some((w) => w.values === 'int8')).toBe(true);
    const check = execFileSync('/usr/bin/python3', ['-c', `import onnx, sys, numpy as np\nfrom onnx import numpy_helper as nh\nm = onnx.load(sys.argv[1])\nI = {t.name: nh.to_array(t) for t in m.graph.initializer}\nbad = 0\nfor name in [n for n in I if n.endswith('__mask')]:\n    w = name[:-6]\n    bits = np.unpackbits(I[name], bitorder='little')[:int(np.prod(I[w + '__bitmask_shape']))].reshape(I[w + '__bitmask_shape'])\n    # MatMul B [K, N]: groups of 4 run along K (the input dimension) for each output column.\n    bad += int((bits.T.reshape(bits.shape[1], -1, 4).sum(axis=2) > 2).sum())\nprint(bad, len([n for n in I if n.endswith('__mask')]))`, out], { encoding: 'utf8' });
    const [violations, masks] = check.trim().split(' ').map(Number);
    expect(masks).toBe(doc.weights.length);
    expect(violations).toBe(0);
  });

  it('with sparse storage is exit 2 naming --values and what to use', async () => {
    const sparse = await runCli(['prune', mlp(), '-o', path.join(dir, 'refused-sparse.onnx'), '--values', 'int8', '--storage', 'sparse']);
    expect(sparse.code).toBe(2);
    expect(sparse.stderr).toMatch(/--values int8 needs dense or bitmask storage .*use --storage auto, dense or bitmask/);
  });

  it('with --structure channels: the smaller dense model gets lower-precision values too (channels removed, then values per weight)', async () => {
    const [plain, int8] = [path.join(dir, 'mlp.channels.onnx'), path.join(dir, 'mlp.channels.int8.onnx')];
    const structured = await runCli(['prune', mlp(), '-o', plain, '--structure', 'channels', '--flops', '0.6', '--json']);
    expect(structured.code, structured.stderr).toBe(0);
    const both = await runCli(['prune', mlp(), '-o', int8, '--structure', 'channels', '--flops', '0.6', '--values', 'int8', '--json']);
    expect(both.code, both.stderr).toBe(0);
    const doc = both.json<PruneJson & { structure: { macs: { before: number; after: number } } }>();
    expect(doc.structure.macs.after).toBeLessThan(doc.structure.macs.before);
    expect(doc.structure.macs.after).toBe(structured.json<{ structure: { macs: { after: number } } }>().structure.macs.after);
    // At sparsity 0 the pruning moves nothing, so only the absolute tolerance lets int8 in: each weight takes
    // int8 or float16 (measured), never float32, and the file shrinks accordingly.
    for (const w of doc.weights) expect(['int8', 'float16'], w.name).toContain(w.values);
    expect(statSync(int8).size).toBeLessThan(0.55 * statSync(plain).size);
    expect(doc.fidelity.measured).toBe(true);
  });

  it('an opset-9 model with every weight in a Constant node (paddle2onnx) gets dense int8 values with a Cast/Mul decode: smaller, read back by inspect, close to the original', async () => {
    const out = path.join(dir, 'cls.int8.onnx');
    const result = await runCli(['prune', MODELS.paddleCls, '-o', out, '--values', 'int8', '--shape', 'x=1x3x48x192', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const doc = result.json<PruneJson>();
    expect(doc.weights.map((w) => w.storage)).toEqual(doc.weights.map(() => 'dense'));
    expect(doc.weights.filter((w) => w.values === 'int8').length).toBeGreaterThan(doc.weights.length / 2);
    expect(statSync(out).size).toBeLessThan(0.5 * statSync(MODELS.paddleCls).size);
    expect(doc.fidelity.measured).toBe(true);
    expect(doc.fidelity.minCosine).toBeGreaterThan(0.9);
    const listed = (await runCli(['inspect', out, '--json'])).json<{ weights: Array<{ name: string; location: string; values?: string }> }>().weights;
    for (const w of doc.weights) {
      const seen = listed.find((l) => l.name === w.name)!;
      expect(seen.location).toBe(w.values === 'float32' ? 'constant' : 'quantized');
      expect(seen.values).toBe(w.values === 'float32' ? undefined : w.values);
    }
  });

  it('an unknown precision is exit 2 listing the known ones', async () => {
    const result = await runCli(['prune', mlp(), '-o', path.join(dir, 'x.onnx'), '--values', 'int4']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/float32.*float16.*int8/);
  });
});
