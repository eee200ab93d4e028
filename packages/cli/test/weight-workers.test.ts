/**
 * The CLI's worker pool for the pipeline's per-weight work: the same bytes with no workers, one or two,
 * and a failure in a worker reaches the caller instead of hanging.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { prune, randomSamples, type OrtRuntime } from '@specprune/prune';
import { describe, expect, it } from 'vitest';
import { createWeightWorkers } from '../src/api/weight-workers.js';
import { MODELS, ROOT, tempDir } from './helpers.js';

const runtime = ort as unknown as OrtRuntime;

describe('weight workers', () => {
  it('default pruning gives identical bytes in place, on one worker and on two', async () => {
    const bytes = new Uint8Array(readFileSync(MODELS.paddleCls));
    const options = { sparsity: 0.5, shape: { x: [1, 3, 48, 192] } };
    const inPlace = await prune(bytes, options, { runtime });
    expect(inPlace.report.calibration?.source).toBe('synthetic');
    for (const size of [1, 2]) {
      const workers = createWeightWorkers(size);
      try {
        const pooled = await prune(bytes, options, { runtime, workers });
        expect(Buffer.compare(Buffer.from(pooled.model), Buffer.from(inPlace.model)), `${size} worker(s)`).toBe(0);
        expect(pooled.report.weights).toEqual(inPlace.report.weights);
        expect(pooled.report.calibration).toEqual(inPlace.report.calibration);
      } finally {
        await workers.close();
      }
    }
  }, 300_000);

  it('a weight whose work is most of its worker\'s goes first in the scan and the final pass, keeps its factor between them, and gives the bytes made in place', async () => {
    // x[1,64] -> MatMul 64x1024 -> Relu -> MatMul 1024x16: the last weight's 1024 inputs make its factor most of the work.
    const dir = tempDir();
    const script = path.join(dir, 'wide.py');
    writeFileSync(
      script,
      `import sys, numpy as np, onnx
from onnx import helper as h, numpy_helper as nh, TensorProto as T
rng = np.random.default_rng(3)
w0 = nh.from_array((rng.standard_normal((64, 1024)) / 8).astype(np.float32), 'W0')
w1 = nh.from_array((rng.standard_normal((1024, 16)) / 32).astype(np.float32), 'W1')
nodes = [h.make_node('MatMul', ['x', 'W0'], ['h']), h.make_node('Relu', ['h'], ['a']), h.make_node('MatMul', ['a', 'W1'], ['y'])]
g = h.make_graph(nodes, 'wide', [h.make_tensor_value_info('x', T.FLOAT, [1, 64])], [h.make_tensor_value_info('y', T.FLOAT, [1, 16])], initializer=[w0, w1])
m = h.make_model(g, opset_imports=[h.make_opsetid('', 13)]); m.ir_version = 8
onnx.save(m, sys.argv[1])
`,
    );
    const file = path.join(dir, 'wide.onnx');
    execFileSync('/usr/bin/python3', [script, file]);
    const bytes = new Uint8Array(readFileSync(file));
    const options = { sparsity: 0.5, minParams: 0 };
    const inPlace = await prune(bytes, options, { runtime });
    const pool = createWeightWorkers(2);
    const calls: Array<{ kind: string; key: string; keepFactors?: boolean }> = [];
    const workers = { size: pool.size, run: (work: Parameters<typeof pool.run>[0], lane: number) => (calls.push({ kind: work.kind, key: work.key, ...('keepFactors' in work ? { keepFactors: work.keepFactors } : {}) }), pool.run(work, lane)) };
    try {
      const pooled = await prune(bytes, options, { runtime, workers });
      expect(Buffer.compare(Buffer.from(pooled.model), Buffer.from(inPlace.model))).toBe(0);
      expect(pooled.report.weights).toEqual(inPlace.report.weights);
      const scan = calls.filter((c) => c.kind === 'scan');
      const final = calls.filter((c) => c.kind === 'final');
      expect(scan.map((c) => c.key)).toEqual(['main/W1', 'main/W0']);
      expect(scan.map((c) => c.keepFactors ?? false)).toEqual([true, false]);
      expect(final.map((c) => c.key)).toEqual(['main/W1', 'main/W0']);
      expect(final.some((c) => c.keepFactors)).toBe(false);
    } finally {
      await pool.close();
    }
  }, 120_000);

  it('the pipeline ends the workers after its last weight (before the check), and the same pool serves the next prune', async () => {
    const bytes = new Uint8Array(readFileSync(MODELS.paddleCls));
    const options = { sparsity: 0.5, shape: { x: [1, 3, 48, 192] } };
    const pool = createWeightWorkers(2);
    const calls: string[] = [];
    const workers = {
      size: pool.size,
      run: (work: Parameters<typeof pool.run>[0], lane: number) => {
        calls.push(work.kind);
        return pool.run(work, lane);
      },
      close: async () => {
        calls.push('close');
        await pool.close();
      },
    };
    try {
      const first = await prune(bytes, options, { runtime, workers });
      expect(calls.at(-1)).toBe('close');
      expect(calls.filter((c) => c === 'close')).toHaveLength(1);
      expect(calls.lastIndexOf('final')).toBe(calls.length - 2);
      const second = await prune(bytes, options, { runtime, workers });
      expect(calls.filter((c) => c === 'close')).toHaveLength(2);
      expect(Buffer.compare(Buffer.from(second.model), Buffer.from(first.model))).toBe(0);
    } finally {
      await pool.close();
    }
  }, 300_000);

  it('with calibration samples (statistics built on the workers): re-fit and spectral give the bytes they give in place', async () => {
    const bytes = new Uint8Array(readFileSync(MODELS.paddleCls));
    const spec = [{ name: 'x', dtype: 'float32', shape: [1, 3, 48, 192] }] as never;
    const calibration = randomSamples(runtime, spec, 5, 'test-calibration', 6, {});
    for (const method of ['refit', 'spectral']) {
      const options = { sparsity: 0.6, method, allocation: 'uniform' };
      const inPlace = await prune(bytes, options, { runtime, calibration });
      expect(inPlace.report.calibration?.withGram).toBeGreaterThan(10);
      const workers = createWeightWorkers(2);
      try {
        const pooled = await prune(bytes, options, { runtime, calibration, workers });
        expect(Buffer.compare(Buffer.from(pooled.model), Buffer.from(inPlace.model)), method).toBe(0);
        expect(pooled.report.calibration).toEqual(inPlace.report.calibration);
      } finally {
        await workers.close();
      }
    }
  }, 300_000);

  it('weights without statistics (magnitude, a sampler) are measured on the workers, with the bytes and errors they get in place', async () => {
    // Three 300x300 MatMul weights: large enough to be worth a worker, and no statistics (data-free methods).
    const file = path.join(tempDir(), 'mlp.onnx');
    execFileSync('/usr/bin/python3', [path.join(ROOT, 'bench/make_large_model.py'), file, '3', '300']);
    const bytes = new Uint8Array(readFileSync(file));
    for (const method of ['magnitude', 'l2']) {
      const options = { sparsity: 0.5, method, allocation: 'uniform' };
      const inPlace = await prune(bytes, options, { runtime });
      expect(inPlace.report.weights.every((w) => w.spectralError !== null && w.spectralError > 0), method).toBe(true);
      const pool = createWeightWorkers(2);
      const kinds: string[] = [];
      const workers = { size: pool.size, run: (work: Parameters<typeof pool.run>[0], lane: number) => (kinds.push(work.kind), pool.run(work, lane)) };
      try {
        const pooled = await prune(bytes, options, { runtime, workers });
        expect(kinds, method).toEqual(['plain', 'plain', 'plain']);
        expect(Buffer.compare(Buffer.from(pooled.model), Buffer.from(inPlace.model)), method).toBe(0);
        expect(pooled.report.weights, method).toEqual(inPlace.report.weights);
        // Without the spectral error, magnitude is cheaper in place than the message to a worker.
        kinds.length = 0;
        await prune(bytes, { ...options, spectralError: false }, { runtime, workers });
        expect(kinds, method).toEqual(method === 'magnitude' ? [] : ['plain', 'plain', 'plain']);
      } finally {
        await pool.close();
      }
    }
  }, 300_000);

  it('an error inside a worker rejects the work with its message', async () => {
    const workers = createWeightWorkers(1);
    try {
      const work = { kind: 'scan' as const, key: 'main/W', original: new Float32Array(4), view: { blocks: [] } as never, zeros: [1], method: 'spectral' as const, granularity: { kind: 'unstructured' as const }, seed: 0, measureSpectralError: false };
      await expect(workers.run(work, 0)).rejects.toThrow(/no input statistics for main\/W/);
    } finally {
      await workers.close();
    }
  });
});
