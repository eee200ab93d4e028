import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { MODELS, runCli, tempDir } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));

interface PruneJson {
  fidelity: { measured: true; inputs: string; samples: number; shapes: Record<string, number[]>; minCosine: number; outputs: Array<{ name: string; cosine: number; nonFinite: number }> } | { measured: false; reason: string };
  warnings: string[];
  calibration?: { source: string; observed: number };
  allocationBasis?: string;
  weights: Array<{ name: string; storage: string; sparsity: number }>;
  sparsity: number;
}

/** onnx.checker (Debian's python3-onnx) on each file; returns the files it rejects with the reason. */
function checkerFailures(files: readonly string[]): string[] {
  const script = `
import sys, onnx
bad = []
for f in sys.argv[1:]:
    try:
        onnx.checker.check_model(f)
    except Exception as e:
        bad.append(f + ': ' + str(e).splitlines()[0])
print('\\n'.join(bad))`;
  return execFileSync('/usr/bin/python3', ['-c', script, ...files], { encoding: 'utf8' }).split('\n').filter(Boolean);
}

let models: string;
beforeAll(() => {
  models = tempDir('specprune-edge-');
  execFileSync('/usr/bin/python3', [path.join(here, 'fixtures/edge_models.py'), models]);
});

describe('prune never returns a silently broken model', () => {
  it('stops before any work when an input has open dims it cannot size, naming the input, the dims and a realistic --shape', async () => {
    const dir = tempDir();
    const out = path.join(dir, 'p.onnx');
    const result = await runCli(['prune', MODELS.paddleCls, '-o', out, '--sparsity', '0.3']);
    expect(result.code).toBe(2);
    const lines = result.stderr.trim().split('\n');
    expect(lines.at(-1)).toMatch(/Input "x" has open dimensions 2, 3 in shape \[p2o\.DynamicDimension\.0, 3, .*\]; give the size you run it at, e.g\. --shape x=1x3x224x224/);
    // Before any work: no scan, no statistics, nothing written.
    expect(result.stderr).not.toMatch(/scan|statistics|pruning \d/);
    expect(readdirSync(dir)).toEqual([]);

    const seq = await runCli(['prune', path.join(models, 'open_seq.onnx'), '-o', out]);
    expect(seq.code).toBe(2);
    expect(seq.stderr).toMatch(/Input "x" has open dimension 1 in shape \[batch, seq, 24\]; give the size you run it at, e.g\. --shape x=1x128x24/);
  });

  it('fills an open batch dim with 1 by itself, says so, and measures the written model', async () => {
    const out = path.join(tempDir(), 'p.onnx');
    const result = await runCli(['prune', path.join(models, 'batch_only.onnx'), '-o', out, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const doc = result.json<PruneJson>();
    expect(doc.warnings.join('\n')).toMatch(/input x: dim 0 \("batch"\) = 1/);
    expect(doc.allocationBasis).toBe('sensitivity-scan');
    expect(doc.fidelity.measured).toBe(true);
    if (!doc.fidelity.measured) return;
    expect(doc.fidelity.shapes).toEqual({ x: [1, 24] });
    expect(doc.fidelity.outputs.map((o) => o.name)).toEqual(['y']);
    expect(doc.fidelity.minCosine).toBeGreaterThan(0.5);
    expect(doc.fidelity.minCosine).toBeLessThan(1);
  });

  it('with --shape the same model runs at the given size, and the human summary states the fidelity', async () => {
    const out = path.join(tempDir(), 'p.onnx');
    const result = await runCli(['prune', path.join(models, 'open_seq.onnx'), '-o', out, '--shape', 'x=1x5x24']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/Output fidelity on 4 random input\(s\) \(x 1x5x24\): y cosine 0\.\d{4}\./);
    expect(result.stdout).toMatch(/cannot show task accuracy/);
  });

  it('says in plain words when nothing could be measured', async () => {
    const out = path.join(tempDir(), 'p.onnx');
    const result = await runCli(['prune', MODELS.paddleCls, '-o', out, '--method', 'magnitude', '--allocation', 'uniform', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const doc = result.json<PruneJson>();
    expect(doc.fidelity).toMatchObject({ measured: false, reason: expect.stringMatching(/Input "x" has open dimensions 2, 3/) });
    expect(doc.warnings.join('\n')).toMatch(/output fidelity was not measured/);
    const human = await runCli(['prune', MODELS.paddleCls, '-o', out, '--method', 'magnitude', '--allocation', 'uniform']);
    expect(human.stdout).toMatch(/Output fidelity NOT measured: .*nothing says it still computes what the original did/);
  });

  it('refuses a --shape of the wrong rank, whatever the method', async () => {
    const dir = tempDir();
    for (const flags of [[], ['--method', 'magnitude', '--allocation', 'uniform']]) {
      const result = await runCli(['prune', path.join(models, 'batch_only.onnx'), '-o', path.join(dir, 'p.onnx'), '--shape', 'x=1x2x24', ...flags]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/--shape x=1x2x24 has 3 dims but input "x" has 2/);
      expect(existsSync(path.join(dir, 'p.onnx'))).toBe(false);
    }
  });

  it('prunes a model with external data with the defaults (scan and statistics run on it)', async () => {
    const dir = tempDir();
    const out = path.join(dir, 'p.onnx');
    const input = path.join(models, 'ext/external.onnx');
    const before = readFileSync(path.join(models, 'ext/external.onnx.data'));
    const result = await runCli(['prune', input, '-o', out, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const doc = result.json<PruneJson>();
    expect(doc.allocationBasis).toBe('sensitivity-scan');
    expect(doc.calibration).toMatchObject({ source: 'synthetic', observed: 2 });
    expect(doc.fidelity.measured).toBe(true);
    expect(doc.sparsity).toBeCloseTo(0.5, 2);
    expect(readFileSync(path.join(models, 'ext/external.onnx.data')).equals(before)).toBe(true);
    expect(checkerFailures([out])).toEqual([]);
  });

  it('prunes a float16 model with the defaults (float16 activations feed the statistics)', async () => {
    const out = path.join(tempDir(), 'p.onnx');
    const result = await runCli(['prune', path.join(models, 'half.onnx'), '-o', out, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const doc = result.json<PruneJson>();
    expect(doc.calibration).toMatchObject({ source: 'synthetic', observed: 2 });
    expect(doc.allocationBasis).toBe('sensitivity-scan');
    // A scan that saw float16 outputs has no "did not affect the outputs" weights.
    expect(doc.warnings.join('\n')).not.toMatch(/did not affect the outputs/);
    expect(doc.fidelity.measured).toBe(true);
    if (doc.fidelity.measured) expect(doc.fidelity.minCosine).toBeGreaterThan(0.5);
    expect(checkerFailures([out])).toEqual([]);
  });
});

describe('prune writes spec-valid ONNX by default', () => {
  it('stores sparse weights with int64 indices (onnx.checker passes); narrower ones only with --ort-only-sparse-indices', async () => {
    const dir = tempDir();
    const valid = path.join(dir, 'valid.onnx');
    const narrow = path.join(dir, 'narrow.onnx');
    const flags = ['--sparsity', '0.9', '--storage', 'sparse', '--method', 'magnitude', '--allocation', 'uniform', '--json'];
    const a = await runCli(['prune', MODELS.wakeword, '-o', valid, ...flags]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.json<PruneJson>().weights.every((w) => w.storage === 'sparse')).toBe(true);
    const b = await runCli(['prune', MODELS.wakeword, '-o', narrow, ...flags, '--ort-only-sparse-indices']);
    expect(b.code, b.stderr).toBe(0);
    expect(checkerFailures([valid])).toEqual([]);
    const rejected = checkerFailures([narrow]);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatch(/must have INT64 type/);
    expect(statSync(narrow).size).toBeLessThan(statSync(valid).size);
  });

  it('keeps an IR version 3 model dense (sparse tensors came with IR 6), and it loads', async () => {
    const old = '/usr/share/libonnx-testdata/data/pytorch-converted/test_Conv2d/model.onnx';
    const dir = tempDir();
    const out = path.join(dir, 'p.onnx');
    const result = await runCli(['prune', old, '-o', out, '--sparsity', '0.9', '--min-params', '0', '--method', 'magnitude', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const doc = result.json<PruneJson>();
    expect(doc.weights.length).toBeGreaterThan(0);
    expect(doc.weights.every((w) => w.storage === 'dense')).toBe(true);
    expect(doc.fidelity.measured).toBe(true);
    expect(checkerFailures([out])).toEqual([]);
    const forced = await runCli(['prune', old, '-o', path.join(dir, 'q.onnx'), '--storage', 'sparse', '--min-params', '0']);
    expect(forced.code).toBe(2);
    expect(forced.stderr).toMatch(/--storage sparse cannot be used for .*IR version is 3 and sparse tensors need IR version 6/);
  });

  it('refuses to choose by measurements it cannot make when onnxruntime cannot load the model, and says what would work', async () => {
    const linear = '/usr/share/libonnx-testdata/data/pytorch-converted/test_Linear/model.onnx';
    const dir = tempDir();
    const result = await runCli(['prune', linear, '-o', path.join(dir, 'p.onnx'), '--min-params', '0']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/cannot be loaded by onnxruntime: .*Gemm\(6\).* choose --method=magnitude and --allocation=global/);
    expect(readdirSync(dir)).toEqual([]);
    const plain = await runCli(['prune', linear, '-o', path.join(dir, 'p.onnx'), '--min-params', '0', '--method', 'magnitude', '--allocation', 'global', '--json']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.json<PruneJson>().fidelity).toMatchObject({ measured: false, reason: expect.stringMatching(/cannot be loaded by onnxruntime/) });
  });
});

describe('inspect shows what --shape needs', () => {
  it('lists inputs and outputs with their declared shapes, the open dims and a realistic --shape', async () => {
    const json = await runCli(['inspect', MODELS.paddleCls, '--json']);
    expect(json.code, json.stderr).toBe(0);
    const model = json.json<{ model: { inputs: Array<{ name: string; dtype: string; shape: unknown[]; open: number[]; example?: string }>; outputs: Array<{ name: string }> } }>().model;
    expect(model.inputs).toEqual([
      { name: 'x', dtype: 'float32', kind: 'tensor', shape: ['p2o.DynamicDimension.0', 3, 'p2o.DynamicDimension.1', 'p2o.DynamicDimension.2'], open: [0, 2, 3], example: '--shape x=1x3x224x224' },
    ]);
    expect(model.outputs.map((o) => o.name)).toEqual(['softmax_0.tmp_0']);
    const human = await runCli(['inspect', path.join(models, 'open_seq.onnx')]);
    expect(human.stdout).toMatch(/input +x +float32 +\[batch, seq, 24\] +dims 0, 1 \(batch, seq\): e\.g\. --shape x=1x128x24/);
    expect(human.stdout).toMatch(/output +y +float32 +\[batch, seq, 10\]/);
  });
});
