import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli, tempDir } from './helpers.js';

interface PruneJson {
  weights: Array<{ name: string; storage: string; sparsity: number }>;
  warnings?: string[];
  fidelity: { measured: boolean; outputs?: Array<{ maxAbsError: number }> };
}
interface InspectJson {
  weights: Array<{ name: string; location: string; dtype: string; shape: number[]; numel: number; nnz: number }>;
}

let dir: string;
const model = (name: string) => path.join(dir, `${name}.onnx`);
const quiet = ['--method', 'magnitude', '--allocation', 'uniform', '--min-params', '0'];

beforeAll(() => {
  dir = tempDir('specprune-bitmask-');
  execFileSync('/usr/bin/python3', [path.join(ROOT, 'packages/onnx-io/test/fixtures/make_bitmask_models.py'), dir], { stdio: 'pipe' });
  // 4 layers of 256x256 float32 (the shape of a real dense layer) for --storage auto.
  execFileSync('/usr/bin/python3', [path.join(ROOT, 'bench/make_large_model.py'), model('mlp'), '4', '256'], { stdio: 'pipe' });
});

describe('prune --storage bitmask', () => {
  it.each(['f32', 'f16'])('writes %s weights as bitmasks that compute exactly what the same weights stored dense compute', async (name) => {
    const [dense, bitmask] = [path.join(dir, `${name}.dense.onnx`), path.join(dir, `${name}.bitmask.onnx`)];
    const d = await runCli(['prune', model(name), '-o', dense, '--storage', 'dense', ...quiet, '--json']);
    const b = await runCli(['prune', model(name), '-o', bitmask, '--storage', 'bitmask', ...quiet, '--json']);
    expect(d.code, d.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(b.json<PruneJson>().weights.map((w) => w.storage)).toEqual(b.json<PruneJson>().weights.map(() => 'bitmask'));
    expect(b.json<PruneJson>().fidelity.measured).toBe(true);
    // eval runs both with onnxruntime-node on the same inputs.
    const e = await runCli(['eval', dense, bitmask, '--json']);
    expect(e.code, e.stderr).toBe(0);
    const outputs = e.json<{ outputs: Array<{ maxAbsError: number }> }>().outputs;
    expect(outputs.length).toBeGreaterThan(0);
    for (const output of outputs) expect(output.maxAbsError).toBeLessThanOrEqual(1e-6);

    const inspect = await runCli(['inspect', bitmask, '--json']);
    expect(inspect.code, inspect.stderr).toBe(0);
    const denseInspect = (await runCli(['inspect', dense, '--json'])).json<InspectJson>().weights;
    const weights = inspect.json<InspectJson>().weights;
    expect(weights).toHaveLength(denseInspect.length);
    for (const w of weights) {
      const twin = denseInspect.find((x) => x.name === w.name)!;
      expect(w.location).toBe('bitmask');
      expect([w.dtype, w.shape, w.numel, w.nnz]).toEqual([twin.dtype, twin.shape, twin.numel, twin.nnz]);
    }
    expect(weights.find((w) => w.name === (name === 'f32' ? 'w1' : 'c'))!.dtype).toBe(name === 'f32' ? 'float32' : 'float16');

    const spectrum = await runCli(['spectrum', dense, bitmask, '--json']);
    expect(spectrum.code, spectrum.stderr).toBe(0);
  });

  it('prunes a bitmask model again (re-encoded as bitmask, or dense), and the result runs', async () => {
    const first = path.join(dir, 'again.first.onnx');
    expect((await runCli(['prune', model('f32'), '-o', first, '--storage', 'bitmask', ...quiet])).code).toBe(0);
    for (const storage of ['bitmask', 'dense', 'auto']) {
      const out = path.join(dir, `again.${storage}.onnx`);
      const r = await runCli(['prune', first, '-o', out, '--storage', storage, '--sparsity', '0.7', ...quiet, '--json']);
      expect(r.code, r.stderr).toBe(0);
      const doc = r.json<PruneJson>();
      // w2 is all zero: 70% is reached on the others.
      expect(doc.weights.find((w) => w.name === 'w1')!.sparsity).toBeGreaterThanOrEqual(0.69);
      expect(doc.fidelity.measured).toBe(true);
      const locations = (await runCli(['inspect', out, '--json'])).json<InspectJson>().weights.map((w) => w.location);
      if (storage === 'bitmask') expect(locations.every((l) => l === 'bitmask')).toBe(true);
      if (storage === 'dense') expect(locations.every((l) => l === 'initializer')).toBe(true);
    }
  });

  it('auto picks bitmask for a 256x256 float32 layer at 50% and writes about 0.53x of dense', async () => {
    const [dense, auto] = [path.join(dir, 'mlp.dense.onnx'), path.join(dir, 'mlp.auto.onnx')];
    expect((await runCli(['prune', model('mlp'), '-o', dense, '--storage', 'dense', ...quiet, '--no-stream'])).code).toBe(0);
    const r = await runCli(['prune', model('mlp'), '-o', auto, ...quiet, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json<PruneJson>().weights.every((w) => w.storage === 'bitmask')).toBe(true);
    const ratio = statSync(auto).size / statSync(dense).size;
    expect(ratio).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(0.56);
    const e = await runCli(['eval', dense, auto, '--json']);
    for (const output of e.json<{ outputs: Array<{ maxAbsError: number }> }>().outputs) expect(output.maxAbsError).toBeLessThanOrEqual(1e-6);
  });

  it('a bitmask model loads and runs in onnxruntime-web in headless Chromium (bench --target browser), like the same weights stored dense', async () => {
    const [dense, bitmask] = [path.join(dir, 'web.dense.onnx'), path.join(dir, 'web.bitmask.onnx')];
    expect((await runCli(['prune', model('mlp'), '-o', dense, '--storage', 'dense', ...quiet])).code).toBe(0);
    expect((await runCli(['prune', model('mlp'), '-o', bitmask, '--storage', 'bitmask', ...quiet])).code).toBe(0);
    const bench = async (file: string) => {
      const r = await runCli(['bench', file, '--target', 'browser', '--runs', '20', '--warmup', '5', '--json']);
      expect(r.code, r.stderr).toBe(0);
      return r.json<{ latencyMs: { p50: number } }>().latencyMs.p50;
    };
    // Latency is compared in docs/benchmarks.md (pnpm bench), not asserted here.
    expect(await bench(dense)).toBeGreaterThan(0);
    expect(await bench(bitmask)).toBeGreaterThan(0);
  }, 180_000);

  it('refuses bitmask on a model older than opset 11 / IR 4 (exit 2, naming the flag)', async () => {
    const old = '/usr/share/libonnx-testdata/data/pytorch-converted/test_Conv2d/model.onnx';
    const r = await runCli(['prune', old, '-o', path.join(dir, 'old.onnx'), '--storage', 'bitmask', ...quiet]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--storage bitmask cannot be used for .*(IR version|opset)/);
  });

  it('falls back to dense or sparse for weights bitmask storage does not cover, and says so', async () => {
    // Silero v5 keeps weights in Constant nodes inside If bodies: those stay dense or sparse.
    const sileroV5 = path.join(ROOT, 'node_modules/@ricky0123/vad-web/dist/silero_vad_v5.onnx');
    const r = await runCli(['prune', sileroV5, '-o', path.join(dir, 'silero.onnx'), '--storage', 'bitmask', ...quiet, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json<PruneJson>();
    expect(doc.weights.some((w) => w.storage !== 'bitmask')).toBe(true);
    expect(doc.warnings?.join('\n')).toMatch(/bitmask storage does not cover them/);
  });
});
