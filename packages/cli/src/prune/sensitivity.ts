import type { Granularity } from '@specprune/core';
import { findWeights, parseModel, serializeModel, updateWeight, type MatrixView } from '@specprune/onnx-io';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { ResolvedInput } from '@specprune/device-runner';
import { createSession, inputSpecs, loadOrt, loadSampleFeeds, randomFeeds } from '../eval/inputs.js';
import { pruneWeight } from './engine.js';

/** Sparsities at which each weight's end-to-end sensitivity is measured. */
export const SCAN_GRID = [0, 0.3, 0.5, 0.7, 0.9] as const;

export interface ScanItem {
  key: string;
  view: MatrixView;
  values?: Float32Array;
}

export interface ScanOptions {
  shapes: Record<string, number[]>;
  values: Record<string, number>;
  samples: number;
  seed: number;
  /** Folder of .npy samples (calibration format) used instead of random inputs. */
  calibration?: string;
  granularity: Granularity;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Per-layer sensitivity scan: prunes each weight alone (magnitude, at SCAN_GRID), runs the model in
 * onnxruntime-node on inputs shaped from the model, and records the output distortion
 * ||y' - y|| / ||y|| (all float outputs, averaged over samples). Layers differ enormously here in ways
 * a per-matrix spectral error cannot see (input scales, what later layers amplify).
 * Returns one curve per item, or throws a UsageError when inputs cannot be built (e.g. symbolic dims).
 */
export async function scanSensitivity(modelBytes: Uint8Array, label: string, items: readonly ScanItem[], options: ScanOptions): Promise<number[][]> {
  const ort = await loadOrt();
  const reference = await createSession(ort, modelBytes, label);
  // Calibration samples carry their own shapes; random inputs need every dim fixed.
  const samples = options.calibration
    ? loadSampleFeeds(
        ort,
        options.calibration,
        reference.inputMetadata.map((m) => ({ name: m.name, dtype: (m.isTensor ? m.type : 'float32') as ResolvedInput['dtype'], shape: [] })),
        '--calibration',
      ).slice(0, options.samples)
    : Array.from({ length: options.samples }, (_, k) => randomFeeds(ort, inputSpecs(reference, options.shapes, label), options.seed * 7919 + k, options.values));
  const baseline: Array<Record<string, Tensor>> = [];
  for (const feeds of samples) baseline.push(await reference.run(feeds));
  await reference.release();
  const outputs = Object.keys(baseline[0] ?? {}).filter((n) => baseline[0]![n]!.type === 'float32');

  const distortion = async (session: InferenceSession): Promise<number> => {
    let total = 0;
    for (let k = 0; k < samples.length; k++) {
      const result = await session.run(samples[k]!);
      let num = 0;
      let den = 0;
      for (const name of outputs) {
        const a = baseline[k]![name]!.data as Float32Array;
        const b = result[name]!.data as Float32Array;
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

  const curves: number[][] = [];
  const steps = items.length * (SCAN_GRID.length - 1);
  let done = 0;
  for (const item of items) {
    const curve = [0];
    for (const s of SCAN_GRID.slice(1)) {
      const model = parseModel(modelBytes, { label });
      const weight = findWeights(model).find((w) => `${w.graph}/${w.name}` === item.key)!;
      const pruned = pruneWeight(item.values!, item.view, Math.round(s * item.values!.length), 'magnitude', options.granularity, options.seed, item.key, {
        measureSpectralError: false,
      });
      updateWeight(model, weight, pruned.values, 'dense');
      const session = await ort.InferenceSession.create(serializeModel(model), { intraOpNumThreads: 1 });
      curve.push(await distortion(session));
      await session.release();
      options.onProgress?.(++done, steps);
    }
    // Distortion should not fall as sparsity rises; keep the curve monotone against sampling noise.
    for (let k = 1; k < curve.length; k++) curve[k] = Math.max(curve[k]!, curve[k - 1]!);
    curves.push(curve);
  }
  return curves;
}

/** Piecewise-linear interpolation of a curve sampled on `grid`, extrapolated linearly past its end. */
export function interpolate(grid: readonly number[], curve: readonly number[], s: number): number {
  if (s <= grid[0]!) return curve[0]!;
  for (let k = 1; k < grid.length; k++) {
    if (s <= grid[k]!) {
      const t = (s - grid[k - 1]!) / (grid[k]! - grid[k - 1]!);
      return curve[k - 1]! + t * (curve[k]! - curve[k - 1]!);
    }
  }
  const last = grid.length - 1;
  const slope = (curve[last]! - curve[last - 1]!) / (grid[last]! - grid[last - 1]!);
  return curve[last]! + Math.max(0, slope) * (s - grid[last]!);
}
