import { describe, expect, it } from 'vitest';
import { MODELS, expectBenchSchema, expectUserError, runCli, tempDir, writeBrokenModel } from './bench-helpers.js';

describe('specprune bench --target browser (headless Chromium, onnxruntime-web)', () => {
  it('benchmarks a CNN with the same schema as node, cross-origin isolated', async () => {
    const outcome = await runCli(['bench', MODELS.cnn, '--target', 'browser', '--shape', 'x=1x3x48x192', '--threads', '1', '--runs', '4', '--warmup', '1', '--json']);
    expect(outcome.code, outcome.stderr).toBe(0);
    const result = outcome.json();
    expectBenchSchema(result, 'browser', 4);
    expect(result.device).toMatchObject({ runtime: 'onnxruntime-web', runtimeVersion: '1.30.0', crossOriginIsolated: true, wasmThreads: 1, wasmSimd: true });
    expect(result.device.userAgent).toMatch(/Chrome\//);
    expect(result.peakMemorySource).toBe('measureUserAgentSpecificMemory');
    expect(outcome.stderr).toMatch(/page: downloading the model/);
  });

  it('fails with one sentence when the browser cannot start', async () => {
    expectUserError(
      await runCli(['bench', MODELS.gemm, '--target', 'browser', '--browser', '/nonexistent/chromium', '--runs', '1']),
      /The browser \/nonexistent\/chromium could not start .*pass --browser/,
    );
  });

  it('says which model the browser could not load', async () => {
    const model = writeBrokenModel(tempDir('browser'));
    expectUserError(
      await runCli(['bench', model, '--target', 'browser', '--threads', '1', '--runs', '1']),
      /the headless browser could not load the model .*broken\.onnx: /,
    );
  });

  it('refuses --no-simd, which onnxruntime-web 1.30 cannot honour', async () => {
    expectUserError(await runCli(['bench', MODELS.gemm, '--target', 'browser', '--no-simd']), /--no-simd cannot be honoured: onnxruntime-web 1\.30 ships only WebAssembly SIMD builds/);
  });

  it('reports a missing WebGPU adapter as a user error', async () => {
    expectUserError(await runCli(['bench', MODELS.gemm, '--target', 'browser', '--ep', 'webgpu', '--threads', '1', '--runs', '1']), /could not load the model .*hello_deepa\.onnx: /);
  });
});
