import { describe, expect, it } from 'vitest';
import { MODELS, expectBenchSchema, expectUserError, runCli, tempDir, writeBrokenModel } from './bench-helpers.js';

describe('specprune bench --target node', () => {
  it('benchmarks a fixed-shape Gemm model and prints the JSON schema', async () => {
    const outcome = await runCli(['bench', MODELS.gemm, '--runs', '8', '--warmup', '2', '--json']);
    expect(outcome.code, outcome.stderr).toBe(0);
    const result = outcome.json();
    expectBenchSchema(result, 'node', 8);
    expect(result.device).toMatchObject({ runtime: 'onnxruntime-node', runtimeVersion: '1.30.0', arch: process.arch });
    expect(result.peakMemorySource).toBe('VmHWM');
    expect(result.inputs).toEqual([{ name: 'onnx::Flatten_0', dtype: 'float32', shape: [1, 25, 96] }]);
    expect(result.repetitions).toBeUndefined();
  });

  it('fixes symbolic dims of a CNN with --shape NAME=DIMS', async () => {
    const outcome = await runCli(['bench', MODELS.cnn, '--shape', 'x=1x3x48x192', '--runs', '3', '--warmup', '1', '--json']);
    expect(outcome.code, outcome.stderr).toBe(0);
    expect(outcome.json().inputs).toEqual([{ name: 'x', dtype: 'float32', shape: [1, 3, 48, 192] }]);
  });

  it('binds named symbolic dims across inputs (--shape batch=1) and generates int64 scalars', async () => {
    const outcome = await runCli(['bench', MODELS.vad, '--shape', 'batch=1', '--shape', 'sequence=512', '--runs', '3', '--warmup', '1', '--json']);
    expect(outcome.code, outcome.stderr).toBe(0);
    expect(outcome.json().inputs).toEqual([
      { name: 'input', dtype: 'float32', shape: [1, 512] },
      { name: 'sr', dtype: 'int64', shape: [] },
      { name: 'h', dtype: 'float32', shape: [2, 1, 64] },
      { name: 'c', dtype: 'float32', shape: [2, 1, 64] },
    ]);
  });

  it('reports the median over repetitions and their spread', async () => {
    const outcome = await runCli(['bench', MODELS.gemm, '--runs', '5', '--warmup', '1', '--repetitions', '3', '--json']);
    expect(outcome.code, outcome.stderr).toBe(0);
    const { repetitions, latencyMs } = outcome.json();
    expect(repetitions.count).toBe(3);
    expect(repetitions.latencyP50Ms).toHaveLength(3);
    expect(repetitions.sessionCreateMs).toHaveLength(3);
    expect([...repetitions.latencyP50Ms].sort((a: number, b: number) => a - b)[1]).toBe(latencyMs.p50);
    expect(repetitions.p50RelativeSpread).toBeGreaterThanOrEqual(0);
  });

  it('prints a human table without --json', async () => {
    const outcome = await runCli(['bench', MODELS.gemm, '--runs', '3', '--warmup', '0']);
    expect(outcome.code, outcome.stderr).toBe(0);
    expect(outcome.stdout).toMatch(/p50/);
    expect(outcome.stdout).toMatch(/peak memory: .* \(VmHWM\)/);
  });

  it('names the input and the open dim when a symbolic dim is left open', async () => {
    expectUserError(await runCli(['bench', MODELS.cnn, '--runs', '1', '--json']), /Input "x" has open dimensions 2, 3 .*e.g. --shape x=1x3x224x224/);
  });

  it('refuses a --shape whose rank does not match the input', async () => {
    expectUserError(await runCli(['bench', MODELS.cnn, '--shape', 'x=1x3', '--runs', '1']), /--shape x=1x3 has 2 dims but input "x" has 4/);
  });

  it('refuses a malformed --shape', async () => {
    expectUserError(await runCli(['bench', MODELS.gemm, '--shape', 'x=1xa']), /--shape x=1xa is not NAME=DIMS/);
  });

  it('refuses a missing model file', async () => {
    expectUserError(await runCli(['bench', 'nope/missing.onnx']), /Model file nope\/missing.onnx does not exist/);
  });

  it('says which model failed to load', async () => {
    const model = writeBrokenModel(tempDir('node'));
    expectUserError(await runCli(['bench', model, '--runs', '1']), /onnxruntime on this machine could not load the model .*broken\.onnx: /);
  });

  it('refuses an unknown target', async () => {
    expectUserError(await runCli(['bench', MODELS.gemm, '--target', 'phone']), /--target phone is not a known target; use one of: node, browser/);
  });
});
