import type { Granularity } from '@specprune/core';
import { findWeights, halfToFloat, parseModel, serializeModel, updateWeight, type MatrixView } from '@specprune/onnx-io';
import type { ResolvedInput } from '@specprune/device-runner/inputs';
import { pruneWeight } from './engine.js';
import { PruneInputError, throwIfAborted } from './errors.js';
import { openSession, randomSamples, type Feeds, type InferenceSession, type OrtRuntime, type Tensor } from './runtime.js';

/** Sparsities at which each weight's end-to-end sensitivity is measured. */
export const SCAN_GRID = [0, 0.3, 0.5, 0.7, 0.9] as const;

export interface ScanItem {
  key: string;
  view: MatrixView;
  values?: Float32Array;
}

export interface ScannerOptions {
  /** Concrete inputs to generate random samples for (when no `feeds` are given). */
  specs?: readonly ResolvedInput[];
  values: Record<string, number>;
  /** Random samples to draw when no `feeds` are given. */
  samples: number;
  seed: number;
  /** Stops measurements between runs. */
  signal?: AbortSignal;
  /** Sample inputs to use instead of random ones (e.g. the first calibration samples). */
  feeds?: ReadonlyArray<Feeds>;
}

/** Runs the model with some weights replaced and measures how far its outputs move. */
export interface Scanner {
  /**
   * Output distortion ||y' - y|| / ||y|| over every float output, averaged over the samples, with the
   * given weights (by graph/name key) replaced by new values.
   */
  distortion(replacements: ReadonlyArray<{ key: string; values: Float32Array }>): Promise<number>;
  /** The inputs every measurement runs on, and the original model's outputs on them. */
  readonly samples: ReadonlyArray<Feeds>;
  readonly baseline: ReadonlyArray<Feeds>;
}

/**
 * A scanner on inputs shaped from the model (seeded random, `--shape`/`--value`) or on given samples.
 * Throws a PruneInputError when inputs cannot be built (e.g. symbolic dims without --shape).
 */
export async function createScanner(runtime: OrtRuntime, modelBytes: Uint8Array, label: string, options: ScannerOptions): Promise<Scanner> {
  const reference = await openSession(runtime, modelBytes, label);
  const samples = options.feeds
    ? [...options.feeds]
    : randomSamples(runtime, options.specs ?? [], options.seed, 'scan-inputs', options.samples, options.values);
  const baseline: Array<Feeds> = [];
  try {
    for (const feeds of samples) baseline.push(await reference.run(feeds));
  } catch (error) {
    const shapes = Object.entries(samples[0] ?? {}).map(([name, t]) => `${name} ${t.dims.join('x')}`).join(', ');
    throw new PruneInputError(`${label} fails to run on inputs of shape ${shapes}: ${String((error as Error).message).split('\n')[0]}; give the shapes you run it at with --shape NAME=DIMS.`);
  } finally {
    await reference.release();
  }
  const outputs = Object.keys(baseline[0] ?? {}).filter((n) => FLOAT_OUTPUTS.has(baseline[0]![n]!.type));

  const measure = async (session: InferenceSession): Promise<number> => {
    let total = 0;
    for (let k = 0; k < samples.length; k++) {
      const result = await session.run(samples[k]!);
      let num = 0;
      let den = 0;
      for (const name of outputs) {
        const a = asFloats(baseline[k]![name]!);
        const b = asFloats(result[name]!);
        for (let i = 0; i < a.length; i++) {
          const d = (b[i] ?? 0) - a[i]!;
          num += Number.isFinite(d) ? d * d : 1e30;
          den += a[i]! * a[i]!;
        }
      }
      total += Math.sqrt(num / (den || 1));
    }
    return total / samples.length;
  };
  return {
    samples,
    baseline,
    async distortion(replacements) {
      throwIfAborted(options.signal);
      const model = parseModel(modelBytes, { label });
      const weights = findWeights(model);
      for (const { key, values } of replacements) updateWeight(model, weights.find((w) => `${w.graph}/${w.name}` === key)!, values, 'dense');
      const session = await openSession(runtime, serializeModel(model), label);
      try {
        return await measure(session);
      } finally {
        await session.release();
      }
    },
  };
}

export interface ScanOptions {
  /** The pruned values of one weight at one sparsity (the method the prune will use). */
  pruneAt: (item: ScanItem, index: number, sparsity: number) => Float32Array;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Per-layer sensitivity scan: prunes each weight alone at SCAN_GRID, runs the model in onnxruntime-node
 * and records the output distortion. Layers differ enormously here in ways a per-matrix spectral error
 * cannot see (input scales, what later layers amplify). Returns one monotone curve per item.
 */
export async function scanSensitivity(scanner: Scanner, items: readonly ScanItem[], options: ScanOptions): Promise<number[][]> {
  const curves: number[][] = [];
  const steps = items.length * (SCAN_GRID.length - 1);
  let done = 0;
  for (const [index, item] of items.entries()) {
    const curve = [0];
    for (const s of SCAN_GRID.slice(1)) {
      curve.push(await scanner.distortion([{ key: item.key, values: options.pruneAt(item, index, s) }]));
      options.onProgress?.(++done, steps);
    }
    // Distortion should not fall as sparsity rises; keep the curve monotone against sampling noise.
    for (let k = 1; k < curve.length; k++) curve[k] = Math.max(curve[k]!, curve[k - 1]!);
    curves.push(curve);
  }
  return curves;
}

/** Magnitude pruning of one weight for the data-free scan. */
export function magnitudeAt(item: ScanItem, sparsity: number, granularity: Granularity, seed: number): Float32Array {
  return pruneWeight(item.values!, item.view, Math.round(sparsity * item.values!.length), 'magnitude', granularity, seed, item.key, { measureSpectralError: false }).values;
}

const FLOAT_OUTPUTS = new Set(['float32', 'float64', 'float16']);

/** An output's values as numbers; float16 outputs (of float16 models) arrive as raw half bits. */
function asFloats(tensor: Tensor): ArrayLike<number> {
  return tensor.type === 'float16' ? Float32Array.from(tensor.data as Uint16Array, halfToFloat) : (tensor.data as ArrayLike<number>);
}
