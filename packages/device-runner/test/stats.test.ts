import { describe, expect, it } from 'vitest';
import { assembleResult, parseShapeFlags } from '../src/benchmark.js';
import { createRandom } from '@specprune/core/random';
import { generateInputData, INPUT_DTYPES, resolveInputs } from '../src/input-spec.js';
import { percentile, summarizeLatencies } from '../src/stats.js';
import type { InputDtype, PayloadConfig } from '../src/types.js';

describe('latency statistics', () => {
  it('uses nearest-rank percentiles and the sample standard deviation', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    const stats = summarizeLatencies(values);
    expect(stats).toMatchObject({ p50: 50, p90: 90, p99: 99, min: 1, max: 100, mean: 50.5 });
    expect(stats.stdev).toBeCloseTo(29.011, 3);
    expect(percentile([7], 0.99)).toBe(7);
    expect(summarizeLatencies([3]).stdev).toBe(0);
  });

  it('takes the median of every statistic over repetitions', () => {
    const config: PayloadConfig = { warmup: 0, runs: 2, repetitions: 3, shapes: {}, seed: 0, threads: 0, executionProvider: 'wasm', simd: true };
    const result = assembleResult('node', 'm.onnx', 10, config, {
      device: { arch: 'x64', os: 'Linux', runtime: 'onnxruntime-node', runtimeVersion: '1.30.0' },
      inputs: [],
      peakMemoryBytes: 1,
      peakMemorySource: 'VmHWM',
      repetitions: [
        { sessionCreateMs: 5, latenciesMs: [1, 1] },
        { sessionCreateMs: 9, latenciesMs: [4, 4] },
        { sessionCreateMs: 7, latenciesMs: [2, 2] },
      ],
    });
    expect(result.latencyMs.p50).toBe(2);
    expect(result.sessionCreateMs).toBe(7);
    expect(result.repetitions).toEqual({ count: 3, sessionCreateMs: [5, 9, 7], latencyP50Ms: [1, 4, 2], p50RelativeSpread: 1.5 });
  });
});

describe('input generation', () => {
  it.each(Object.keys(INPUT_DTYPES) as InputDtype[])('fills %s inputs deterministically from the seed', (dtype) => {
    const input = { name: 'x', dtype, shape: [2, 3] };
    const a = generateInputData(input, createRandom(1));
    const b = generateInputData(input, createRandom(1));
    expect(a).toBeInstanceOf(INPUT_DTYPES[dtype].array);
    expect(a.length).toBe(6);
    expect(Array.from(a as ArrayLike<number | bigint>)).toEqual(Array.from(b as ArrayLike<number | bigint>));
  });

  it('encodes float16 as half-precision bits', () => {
    const bits = generateInputData({ name: 'x', dtype: 'float16', shape: [1000] }, createRandom(3)) as Uint16Array;
    for (const b of bits) expect(((b >> 10) & 0x1f) <= 15).toBe(true); // |x| < 1 has exponent <= 15
  });

  it('refuses element types it cannot generate, by name', () => {
    expect(() => resolveInputs([{ name: 's', isTensor: true, type: 'string', shape: [1] }], {})).toThrow(/Input "s" has element type string/);
  });

  it('refuses a --shape that contradicts a fixed dim', () => {
    expect(() => resolveInputs([{ name: 'x', isTensor: true, type: 'float32', shape: [1, 3] }], { x: [1, 4] })).toThrow(/sets dim 1 to 4 but the model fixes it at 3/);
  });

  it('parses --shape values, including scalars', () => {
    expect(parseShapeFlags(['x=1x3x224x224', 'batch=2', 'sr='])).toEqual({ x: [1, 3, 224, 224], batch: [2], sr: [] });
    expect(() => parseShapeFlags(['x=0x3'])).toThrow(/--shape x=0x3 is not NAME=DIMS/);
  });
});

describe('the payload bundle', () => {
  it.each(['node', 'browser'] as const)("the %s payload generates inputs with core's PRNG, bundled from the sources", async (kind) => {
    const { bundlePayload } = await import('../src/bundle.js');
    const text = await bundlePayload(kind);
    // core's xoshiro128** seeded through splitmix32 (its increment), and no second generator (mulberry32's).
    expect(text).toMatch(/0x9e3779b9|2654435769|-1640531527/i);
    expect(text).not.toMatch(/0x6d2b79f5|1831565813/i);
    if (kind === 'browser') expect(text).not.toMatch(/["'`]node:/);
  });
});
