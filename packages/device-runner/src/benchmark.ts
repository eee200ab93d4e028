import { statSync } from 'node:fs';
import path from 'node:path';
import { DeviceError } from './errors.js';
import type { TargetRegistry } from './registry.js';
import { median, summarizeLatencies } from './stats.js';
import type { TargetContext } from './target.js';
import type { BenchResult, LatencyStats, Measurement, PayloadConfig } from './types.js';

export interface BenchmarkOptions extends Omit<TargetContext, 'modelLabel' | 'log' | 'env' | 'timeoutMs'> {
  /** `node`, `browser`, `manual`, `webdriver+http://HOST:PORT`, `ssh://USER@HOST[:PORT]`. */
  target: string;
  registry: TargetRegistry;
  /** How the model is named in messages and in `model.path` of the result; default modelPath. */
  modelLabel?: string;
  /** Untimed runs before the timed ones. Default 5. */
  warmup?: number;
  /** Timed runs per repetition. Default 50. */
  runs?: number;
  /** Fresh sessions, each with warmup + runs; figures are medians over them. Default 1. */
  repetitions?: number;
  /** See PayloadConfig.shapes; `parseShapeFlags` builds it from `--shape` values. */
  shapes?: Record<string, number[]>;
  seed?: number;
  /** node, ssh: intra-op threads; browser targets: wasm threads. 0 (default) lets the runtime choose. */
  threads?: number;
  /** browser targets only. Default wasm. */
  executionProvider?: 'wasm' | 'webgpu';
  /** browser targets only. Default true. */
  simd?: boolean;
  /** Whole-run limit in ms. Default 300 000 (manual: waiting for the phone counts). */
  timeoutMs?: number;
  log?: TargetContext['log'];
  env?: TargetContext['env'];
}

/**
 * Benchmarks one model on one target with the shared protocol and returns the `bench` result.
 * Throws DeviceError (exitCode 2) for anything the user can fix; always cleans up the target.
 */
export async function benchmark(options: BenchmarkOptions): Promise<BenchResult> {
  const modelLabel = options.modelLabel ?? options.modelPath;
  let bytes: number;
  try {
    const stat = statSync(options.modelPath);
    if (!stat.isFile()) throw new Error('not a file');
    bytes = stat.size;
  } catch {
    throw new DeviceError(`Model file ${modelLabel} does not exist or is not a file; pass the path of an .onnx model.`);
  }
  const config: PayloadConfig = {
    warmup: options.warmup ?? 5,
    runs: options.runs ?? 50,
    repetitions: options.repetitions ?? 1,
    shapes: options.shapes ?? {},
    seed: options.seed ?? 0,
    threads: options.threads ?? 0,
    executionProvider: options.executionProvider ?? 'wasm',
    simd: options.simd ?? true,
  };
  if (!(config.runs >= 1)) throw new DeviceError(`--runs ${config.runs} is too small; use at least 1.`);
  if (!(config.repetitions >= 1)) throw new DeviceError(`--repetitions ${config.repetitions} is too small; use at least 1.`);
  const context: TargetContext = {
    ...options,
    modelPath: path.resolve(options.modelPath),
    modelLabel,
    timeoutMs: options.timeoutMs ?? 300_000,
    log: options.log ?? (() => {}),
    env: options.env ?? {},
  };
  const target = await options.registry.create(options.target, context);
  let measurement: Measurement;
  try {
    if (context.signal?.aborted) throw new DeviceError('The benchmark was interrupted.');
    await target.init();
    await target.createSession(config);
    measurement = await target.run();
  } finally {
    await target.dispose();
  }
  return assembleResult(options.target, modelLabel, bytes, config, measurement);
}

/** Turns per-repetition samples into the result schema; several repetitions give medians and a spread. */
export function assembleResult(target: string, modelLabel: string, bytes: number, config: PayloadConfig, measurement: Measurement): BenchResult {
  const perRepetition = measurement.repetitions.map((r) => summarizeLatencies(r.latenciesMs));
  const keys: (keyof LatencyStats)[] = ['mean', 'p50', 'p90', 'p99', 'min', 'max', 'stdev'];
  const latencyMs = Object.fromEntries(keys.map((key) => [key, median(perRepetition.map((s) => s[key]))])) as unknown as LatencyStats;
  const sessionCreateMs = measurement.repetitions.map((r) => r.sessionCreateMs);
  const result: BenchResult = {
    target,
    device: measurement.device,
    model: { path: modelLabel, bytes },
    inputs: measurement.inputs,
    warmup: config.warmup,
    runs: config.runs,
    sessionCreateMs: median(sessionCreateMs),
    latencyMs,
    peakMemoryBytes: measurement.peakMemoryBytes,
    peakMemorySource: measurement.peakMemorySource,
  };
  if (perRepetition.length > 1) {
    const p50s = perRepetition.map((s) => s.p50);
    result.repetitions = {
      count: p50s.length,
      sessionCreateMs,
      latencyP50Ms: p50s,
      p50RelativeSpread: (Math.max(...p50s) - Math.min(...p50s)) / latencyMs.p50,
    };
  }
  return result;
}

/**
 * Parses `--shape` values: `NAME=1x3x224x224` fixes input NAME's whole shape, `DIM=8` binds the symbolic
 * dim DIM in every input. A scalar input is `NAME=` (empty).
 */
export function parseShapeFlags(values: readonly string[]): Record<string, number[]> {
  const shapes: Record<string, number[]> = {};
  for (const value of values) {
    const match = /^(.+)=((?:\d+(?:x\d+)*)?)$/.exec(value);
    const dims = match ? (match[2] ? match[2].split('x').map(Number) : []) : undefined;
    if (!match || !dims || dims.some((d) => !Number.isSafeInteger(d) || d < 1)) {
      throw new DeviceError(`--shape ${value} is not NAME=DIMS; write it like --shape x=1x3x224x224 (positive integers joined by x).`);
    }
    shapes[match[1]!] = dims;
  }
  return shapes;
}
