import type { InferenceSession, Tensor } from 'onnxruntime-common';
import { createRandom, deriveSeed } from '@specprune/core';
import { halfToFloat } from '@specprune/onnx-io';
import { generateInputData, type ResolvedInput } from '@specprune/device-runner/inputs';
import { PruneInputError } from './errors.js';

export type { InferenceSession, Tensor };

/** A runtime module as onnxruntime-node and onnxruntime-web export it (typed against onnxruntime-common). */
export interface OrtRuntime {
  InferenceSession: { create(model: Uint8Array, options?: InferenceSession.SessionOptions): Promise<InferenceSession> };
  Tensor: new (type: Tensor.Type, data: Tensor.DataType, dims?: readonly number[]) => Tensor;
}

/** One sample: a tensor per model input, by name. */
export type Feeds = Record<string, Tensor>;

/** Whether a tensor (a model output) holds floating-point values, the ones measurements compare. */
export function isFloatTensor(tensor: Tensor): boolean {
  return tensor.type === 'float32' || tensor.type === 'float64' || tensor.type === 'float16';
}

/** A float tensor's values as numbers; float16 outputs (of float16 models) arrive as raw half bits. */
export function floatValues(tensor: Tensor): ArrayLike<number> {
  return tensor.type === 'float16' ? Float32Array.from(tensor.data as Uint16Array, halfToFloat) : (tensor.data as ArrayLike<number>);
}

/**
 * Sessions for measurements: errors only from onnxruntime's own logger; one intra-op thread unless the
 * runtime is wrapped with {@link withThreads}.
 */
export const SESSION_OPTIONS: InferenceSession.SessionOptions = { graphOptimizationLevel: 'all', intraOpNumThreads: 1, logSeverityLevel: 4 };

/** Milliseconds from a monotonic clock where there is one (Node, browsers). */
export function clock(): number {
  return globalThis.performance?.now() ?? Date.now();
}

/** Seconds since a {@link clock} reading, to the hundredth (as reports give phase times). */
export function secondsSince(since: number): number {
  return Math.round((clock() - since) / 10) / 100;
}

/** Seeded random inputs a written model is checked on when no calibration samples are given. */
export const CHECK_SAMPLES = 4;

/** A session on model bytes; a model the runtime refuses is the caller's input error, named by `label`. */
export async function openSession(runtime: OrtRuntime, bytes: Uint8Array, label: string): Promise<InferenceSession> {
  try {
    return await runtime.InferenceSession.create(bytes, SESSION_OPTIONS);
  } catch (error) {
    throw new PruneInputError(`${label} cannot be loaded by onnxruntime: ${String((error as Error).message).split('\n')[0]}`);
  }
}

/**
 * Seeded random feeds shaped from the model (the generator `bench` uses: core's PRNG through device-runner's
 * generateInputData); `values` fill inputs with a constant. The one input generator of the CLI and the pipeline.
 */
export function randomFeeds(runtime: OrtRuntime, specs: readonly ResolvedInput[], seed: number, values: Readonly<Record<string, number>>): Feeds {
  const random = createRandom(seed);
  const feeds: Feeds = {};
  for (const spec of specs) {
    const data = generateInputData(spec, random);
    const fixed = values[spec.name];
    if (fixed !== undefined) {
      if (data instanceof BigInt64Array || data instanceof BigUint64Array) (data as BigInt64Array).fill(BigInt(Math.round(fixed)));
      else (data as Float32Array).fill(fixed);
    }
    feeds[spec.name] = new runtime.Tensor(spec.dtype as Tensor.Type, data as Tensor.DataType, spec.shape);
  }
  return feeds;
}

/**
 * `count` random samples of one named stream (e.g. 'scan-inputs', 'verify-inputs'): sample k is
 * {@link randomFeeds} with seed deriveSeed(seed, stream, k), so streams never share inputs and a sample
 * does not depend on how many others are drawn.
 */
export function randomSamples(
  runtime: OrtRuntime,
  specs: readonly ResolvedInput[],
  seed: number,
  stream: string,
  count: number,
  values: Readonly<Record<string, number>>,
): Feeds[] {
  return Array.from({ length: count }, (_, k) => randomFeeds(runtime, specs, deriveSeed(seed, stream, k), values));
}

/**
 * The runtime with every session created on `threads` intra-op threads. onnxruntime's CPU kernels split
 * work by output, so outputs do not depend on the thread count (checked on the fixture models, and by a
 * test that prunes on 1 and 2 threads to identical bytes); measurements are rounded besides.
 *
 * The threads do not spin while they wait for work (`session.intra_op.allow_spinning` 0): the pipeline's
 * worker threads compute on the same cores between and during runs, and a spinning thread takes a core
 * from them (ResNet-50-shaped default prune, 2 cores: see docs/benchmarks.md). Spinning changes when a
 * thread looks for work, not how work is split, so outputs are the same. Sessions that time the model
 * (`spinning: true`) keep onnxruntime's default, as the runtimes users deploy and `specprune bench` do.
 */
export function withThreads(runtime: OrtRuntime, threads: number | undefined, { spinning = false }: { spinning?: boolean } = {}): OrtRuntime {
  if (!threads || threads <= 1) return runtime;
  // Merged into the caller's own config entries, not in place of them.
  const quiet = (options?: InferenceSession.SessionOptions) => {
    if (spinning) return {};
    const extra = (options?.extra ?? {}) as { session?: { intra_op?: Record<string, unknown> } & Record<string, unknown> } & Record<string, unknown>;
    return { extra: { ...extra, session: { ...extra.session, intra_op: { ...extra.session?.intra_op, allow_spinning: '0' } } } };
  };
  return {
    Tensor: runtime.Tensor,
    InferenceSession: { create: (model, options) => runtime.InferenceSession.create(model, { ...options, intraOpNumThreads: threads, ...quiet(options) }) },
  };
}
