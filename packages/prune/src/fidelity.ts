import { OutputAgreement, type OutputFidelity } from './compare.js';
import { floatValues, isFloatTensor, openSession, type Feeds, type InferenceSession, type OrtRuntime } from './runtime.js';

export type { OutputFidelity };

/** What `prune` measured on the model it wrote (JSON `fidelity`). */
export type Fidelity =
  | {
      measured: true;
      /** random: seeded inputs generated from the model's declared inputs; calibration: the --calibration samples. */
      inputs: 'random' | 'calibration';
      samples: number;
      /** Shape of each input as run. */
      shapes: Record<string, number[]>;
      /** The lowest cosine over the float outputs (1 = identical direction). */
      minCosine: number;
      outputs: OutputFidelity[];
    }
  | { measured: false; reason: string };

/**
 * Loads the pruned model's bytes in the runtime and compares its outputs with the original's on the same
 * inputs. Throws when the pruned model does not load or run: that is a broken result, never a success.
 */
export async function measureFidelity(
  runtime: OrtRuntime,
  bytes: Uint8Array,
  label: string,
  samples: readonly Feeds[],
  baseline: readonly Feeds[],
  inputs: 'random' | 'calibration',
): Promise<Fidelity & { measured: true }> {
  const session = await openSession(runtime, bytes, label);
  try {
    return await compareOutputs(session, samples, baseline, inputs);
  } finally {
    await session.release();
  }
}

/** Runs `session` (the pruned model) on `samples` and compares each float output with `baseline` (the original's). */
export async function compareOutputs(
  session: InferenceSession,
  samples: readonly Feeds[],
  baseline: readonly Feeds[],
  inputs: 'random' | 'calibration',
): Promise<Fidelity & { measured: true }> {
  const agreements = new Map<string, OutputAgreement>();
  for (let k = 0; k < samples.length; k++) {
    const result = await session.run(samples[k]!);
    for (const [name, reference] of Object.entries(baseline[k]!)) {
      const candidate = result[name];
      // A model that computes something of another shape is broken, however close the numbers it gives.
      if (!candidate) throw new Error(`output ${name} is missing from the pruned model's outputs`);
      if (candidate.dims.length !== reference.dims.length || candidate.dims.some((d, i) => d !== reference.dims[i])) {
        throw new Error(`output ${name} has shape [${candidate.dims.join(', ')}] where the original's is [${reference.dims.join(', ')}]`);
      }
      if (!isFloatTensor(reference)) continue;
      if (!agreements.has(name)) {
        const last = reference.dims[reference.dims.length - 1];
        const classes = reference.dims.length === 2 && typeof last === 'number' && last >= 2 ? last : undefined;
        agreements.set(name, new OutputAgreement(name, classes));
      }
      agreements.get(name)!.add(floatValues(reference), floatValues(candidate));
    }
  }
  const outputs = [...agreements.values()].map((a) => a.result());
  const shapes = Object.fromEntries(Object.entries(samples[0] ?? {}).map(([name, t]) => [name, [...t.dims]]));
  return { measured: true, inputs, samples: samples.length, shapes, minCosine: outputs.reduce((m, o) => Math.min(m, o.cosine), 1), outputs };
}

/**
 * An output whose reference values vary from input to input by less than this share of their energy (see
 * OutputFidelity.referenceVariation) barely depends on those inputs: agreement with it on them proves little. The
 * PP-OCRv4 recogniser on random images: 0.006 (outputs dominated by the blank class; a structured prune of it that
 * reads no line at all kept cosine 0.997 there); its text-direction classifier 0.06, its detector 0.66.
 */
export const INPUT_BLIND_VARIATION = 0.02;

/**
 * A warning when the inputs compared on barely move some output of the reference (see INPUT_BLIND_VARIATION), naming
 * them and what to do; undefined otherwise.
 */
export function blindComparison(outputs: readonly OutputFidelity[], inputs: 'random' | 'calibration', label: string): string | undefined {
  const blind = barelyMovedOutputs(outputs);
  if (blind.length === 0) return undefined;
  const most = Math.max(...blind.map((o) => o.referenceVariation!));
  const cosines = Math.min(...blind.map((o) => o.cosine));
  const fix = inputs === 'random' ? 'give real samples with --calibration DIR (they become the check inputs), or measure its task accuracy on real data' : 'measure its task accuracy on held-out samples (specprune eval --inputs DIR), or give more varied calibration samples';
  return `the ${inputs} check inputs barely move ${label}'s output ${blind.map((o) => o.name).join(', ')} (${percent(most)} of the original's output differs from one input to another), so the pruned model's cosine ${cosines.toFixed(3)} to it there cannot show that it still computes what the original does: ${fix}.`;
}

/** The outputs whose reference the inputs barely move (referenceVariation under INPUT_BLIND_VARIATION). */
export function barelyMovedOutputs<T extends { referenceVariation: number | null }>(outputs: readonly T[]): T[] {
  return outputs.filter((o) => o.referenceVariation !== null && o.referenceVariation < INPUT_BLIND_VARIATION);
}

/** The float outputs that a model's outputs on several inputs show barely moving (see barelyMovedOutputs). */
export function barelyMoved(outputs: readonly Feeds[]): Array<{ name: string; referenceVariation: number | null }> {
  const measured = Object.keys(outputs[0] ?? {}).map((name) => {
    const agreement = new OutputAgreement(name, undefined);
    for (const feeds of outputs) {
      const tensor = feeds[name];
      if (!tensor || !isFloatTensor(tensor)) break;
      agreement.add(floatValues(tensor), floatValues(tensor));
    }
    return { name, referenceVariation: agreement.result().referenceVariation };
  });
  return barelyMovedOutputs(measured);
}

/** A share as a percentage with one decimal, or two under 0.1%. */
export function percent(share: number): string {
  return `${(share * 100).toFixed(share < 0.001 ? 2 : 1)}%`;
}

/** What agreement on random inputs can and cannot tell, said wherever it is shown. */
export const RANDOM_INPUT_CAVEAT =
  'Random inputs show how far the pruned model drifts from the original on noise; they cannot show task accuracy (a 50% classifier can agree at cosine 0.99 on noise and still lose a fifth of its accuracy on real data). Check on your own samples: --calibration DIR, or specprune eval --inputs DIR.';

/** One line for the human summary. */
export function describeFidelity(fidelity: Fidelity): string {
  if (!fidelity.measured) return `Output fidelity NOT measured: ${fidelity.reason}. The pruned model loads in onnxruntime-node, but nothing says it still computes what the original did.`;
  const shapes = Object.entries(fidelity.shapes).map(([name, dims]) => `${name} ${dims.join('x')}`).join(', ');
  const parts = fidelity.outputs.map((o) => `${o.name} cosine ${o.cosine.toFixed(4)}${o.top1Agreement === null ? '' : `, top-1 ${(o.top1Agreement * 100).toFixed(1)}%`}`);
  return `Output fidelity on ${fidelity.samples} ${fidelity.inputs === 'random' ? 'random' : 'calibration'} input(s) (${shapes}): ${parts.join('; ')}.`;
}
