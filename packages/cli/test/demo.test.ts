import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers.js';

describe('specprune demo', () => {
  it('prunes the bundled model, compares, benchmarks both, and writes the model and the report into --out', async () => {
    const cwd = tempDir('specprune-demo-');
    const result = await runCli(['demo', '--out', 'out'], { cwd });
    expect(result.code, result.stderr).toBe(0);
    const model = path.join(cwd, 'out', 'ppocr-cls.pruned.onnx');
    const report = path.join(cwd, 'out', 'report.html');
    expect(existsSync(model)).toBe(true);
    expect(readFileSync(report, 'utf8')).toMatch(/^<!doctype html>/i);
    // The written model loads and runs.
    const session = await ort.InferenceSession.create(model);
    const outputs = await session.run({ x: new ort.Tensor('float32', new Float32Array(3 * 48 * 192).fill(0.5), [1, 3, 48, 192]) });
    expect(Object.values(outputs)[0]!.dims).toEqual([1, 2]);
    await session.release();

    const out = result.stdout;
    // Before/after sizes, the achieved sparsity, the fidelity the pruning measured with its caveat.
    expect(out).toMatch(/^before\s+579 kB/m);
    expect(out).toMatch(/^after\s+\d+ kB/m);
    expect(out).toMatch(/weights pruned to 50\.0% sparsity .* wrote out\/ppocr-cls\.pruned\.onnx and out\/report\.html/);
    expect(out).toMatch(/Output fidelity on \d+ random input\(s\)/);
    expect(out).toMatch(/Random inputs show how far the pruned model drifts/);
    // The eval comparison on 16 random inputs, with the demo's caveat.
    expect(out).toMatch(/^softmax_0\.tmp_0\s+0\.\d{6}\s+\S+\s+\d+\.\d%$/m);
    expect(out).toMatch(/16 random samples/);
    expect(out).toMatch(/top-1 agreement on them is pessimistic/);
    // Both models benchmarked.
    expect(out).toMatch(/^original\s+\d+\.\d ms\s+\d+\.\d{3} ms/m);
    expect(out).toMatch(/^pruned\s+\d+\.\d ms\s+\d+\.\d{3} ms/m);
    expect(out.indexOf('before')).toBeLessThan(out.indexOf('16 random samples'));
    expect(out.indexOf('16 random samples')).toBeLessThan(out.indexOf('session create'));
    expect(result.stderr).toMatch(/Wrote out\/ppocr-cls\.pruned\.onnx and out\/report\.html/);
  }, 240_000);

  it('--sparsity out of range is exit 2 naming the flag, before any work', async () => {
    const cwd = tempDir('specprune-demo-bad-');
    const result = await runCli(['demo', '--out', 'out', '--sparsity', '1.5'], { cwd });
    expect(result.code).toBe(2);
    expect(result.stdout).not.toMatch(/weights pruned/);
    expect(result.stderr).toMatch(/--sparsity 1\.5/);
    expect(existsSync(path.join(cwd, 'out', 'ppocr-cls.pruned.onnx'))).toBe(false);
  });
});
