import type { Granularity } from '@specprune/core';
import { findWeights, lowersPrecision, parseModel, readWeight, roundTripValues, serializeForRuntime, updateWeight, type MatrixView, type OnnxModel, type ValueForm, type WeightRef } from '@specprune/onnx-io';
import { PruneOptionError, throwIfAborted } from './errors.js';
import { measureFidelity } from './fidelity.js';
import { openSession, type Feeds, type OrtRuntime } from './runtime.js';
import { magnitudeAt } from './sensitivity.js';

/** What `--target-bytes` without `--values` chose, and what each precision would have given. */
export interface PrecisionChoice {
  values: ValueForm;
  sparsity: number;
  /** Per precision that fits: the sparsity it needs and the output cosine of a magnitude-pruned trial (null: not measured). */
  candidates: Array<{ values: ValueForm; sparsity: number; minCosine: number | null }>;
  /** Why the trials were not run, if they were not. */
  unmeasured?: string;
}

/**
 * `--target-bytes` over precision: for each value precision, the lowest sparsity whose predicted size fits
 * (`sparsityFor`); each candidate is tried as a magnitude-pruned copy of the model (uniform sparsity, values
 * rounded as they would be stored) and run on the check inputs, and the one whose outputs stay closest to the
 * original's (highest minimum cosine; ties to the lower precision) is chosen. The trial measures the combination
 * (fewer zeros against coarser values), not the final method, which then prunes at the chosen sparsity.
 */
export async function choosePrecisionForBytes(args: {
  model: OnnxModel;
  selected: ReadonlyArray<{ weight: WeightRef; key: string }>;
  items: ReadonlyArray<{ key: string; numel: number; view: MatrixView }>;
  sparsityFor: (values: ValueForm) => number;
  granularity: Granularity;
  seed: number;
  runtime: OrtRuntime;
  label: string;
  /** Inputs to compare outputs on (calibration samples or seeded random ones); undefined when none can be made. */
  samples: readonly Feeds[] | undefined;
  /** Where the samples come from (as the JSON fidelity names it). */
  inputs: 'random' | 'calibration';
  unmeasurable?: string;
  signal?: AbortSignal;
}): Promise<PrecisionChoice> {
  const fits: Array<{ values: ValueForm; sparsity: number }> = [];
  let firstError: unknown;
  for (const values of ['float32', 'float16', 'int8'] as const) {
    try {
      fits.push({ values, sparsity: args.sparsityFor(values) });
    } catch (error) {
      if (!(error instanceof PruneOptionError)) throw error;
      firstError ??= error;
    }
  }
  if (fits.length === 0) throw firstError;
  if (fits.length === 1 || !args.samples?.length) {
    // Without inputs to compare on, the lowest precision that fits (the fewest zeros) is taken.
    const last = fits[fits.length - 1]!;
    return { values: last.values, sparsity: last.sparsity, candidates: fits.map((f) => ({ ...f, minCosine: null })), ...(fits.length > 1 ? { unmeasured: args.unmeasurable ?? 'no inputs to compare the outputs on' } : {}) };
  }
  const original = serializeForRuntime(args.model);
  const session = await openSession(args.runtime, original, args.label);
  const baseline: Feeds[] = [];
  try {
    for (const sample of args.samples) baseline.push(await session.run(sample));
  } finally {
    await session.release();
  }
  const candidates: PrecisionChoice['candidates'] = [];
  for (const fit of fits) {
    throwIfAborted(args.signal);
    const copy = parseModel(original, { label: args.label });
    const byKey = new Map(findWeights(copy).map((w) => [`${w.graph}/${w.name}`, w]));
    args.selected.forEach((s, i) => {
      const weight = byKey.get(s.key);
      if (!weight) return;
      const pruned = magnitudeAt({ ...args.items[i]!, values: readWeight(copy, weight) }, fit.sparsity, args.granularity, args.seed);
      updateWeight(copy, weight, lowersPrecision(fit.values, weight.dtype) ? roundTripValues(pruned, weight, fit.values) : pruned, 'dense');
    });
    const fidelity = await measureFidelity(args.runtime, serializeForRuntime(copy), `the ${fit.values} trial of ${args.label}`, args.samples, baseline, args.inputs);
    candidates.push({ ...fit, minCosine: fidelity.minCosine });
  }
  // Highest cosine; a later (lower) precision wins ties, as it needs fewer zeros.
  const best = candidates.reduce((a, b) => (b.minCosine! >= a.minCosine! ? b : a));
  return { values: best.values, sparsity: best.sparsity, candidates };
}
