import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { prune } from '../src/index.js';
import { encodeNpy } from '../src/eval/npy.js';
import { MODELS, tempDir } from './helpers.js';

describe("the Node API: import { prune } from 'specprune'", () => {
  it('prunes ONNX bytes to { model, report } without touching any file', async () => {
    const bytes = new Uint8Array(readFileSync(MODELS.wakeword));
    const { model, report } = await prune(bytes, { sparsity: 0.6, method: 'magnitude', allocation: 'global' });
    expect(report.sparsity).toBeCloseTo(0.6, 2);
    expect(report.output.path).toBeNull();
    expect(report.input.bytes).toBe(bytes.byteLength);
    expect(report.fidelity.measured).toBe(true);
    const session = await ort.InferenceSession.create(model);
    expect(session.outputNames.length).toBeGreaterThan(0);
    await session.release();
  });

  it('takes a path and writes options.output atomically (the document prune --json prints)', async () => {
    const dir = tempDir();
    const out = path.join(dir, 'small.onnx');
    const { model, report } = await prune(MODELS.paddleCls, { output: out, shape: ['x=1x3x48x192'], sparsity: 0.3 });
    expect(readdirSync(dir)).toEqual(['small.onnx']);
    expect(Buffer.compare(readFileSync(out), Buffer.from(model))).toBe(0);
    expect(report).toMatchObject({ input: { path: MODELS.paddleCls }, output: { path: out }, method: 'spectral', allocation: 'spectral', allocationBasis: 'sensitivity-scan' });
    expect(report.fidelity).toMatchObject({ measured: true, inputs: 'random', shapes: { x: [1, 3, 48, 192] } });
  });

  it('never writes over an input, also when the model is given as bytes (files compared as files)', async () => {
    const dir = tempDir();
    mkdirSync(path.join(dir, 'samples'));
    const sample = path.join(dir, 'samples', '0.npy');
    writeFileSync(sample, encodeNpy('float32', [1, 25, 96], new Float32Array(2400).fill(0.25)));
    const before = readFileSync(sample);
    const bytes = new Uint8Array(readFileSync(MODELS.wakeword));
    await expect(prune(bytes, { output: path.join(dir, 'samples', '.', '0.npy'), calibration: path.join(dir, 'samples'), method: 'refit', allocation: 'uniform' })).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringMatching(/is the calibration sample .*0\.npy.*writing it would destroy an input/),
    });
    expect(readFileSync(sample).equals(before)).toBe(true);
    expect(readdirSync(path.join(dir, 'samples'))).toEqual(['0.npy']);
  });

  it('rejects bad input with exitCode 2 and a sentence naming the option', async () => {
    await expect(prune(path.join(tempDir(), 'nope.onnx'))).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/does not exist/) });
    await expect(prune(MODELS.wakeword, { granularity: '3:2' })).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/^options\.granularity 3:2 is not valid/) });
  });
});
