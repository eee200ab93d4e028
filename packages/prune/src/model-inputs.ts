import { graphInputsOutputs, graphValueInfo, type OnnxModel, type ValueInfo } from '@specprune/onnx-io';
import { InputSpecError, resolveInputs, suggestShape, type ResolvedInput } from '@specprune/device-runner/inputs';
import { PruneInputError } from './errors.js';
import type { Feeds } from './runtime.js';

/** The model's inputs made concrete for generated inputs, decided once before any work. */
export interface InputPlan {
  /** What the model declares (graph inputs without initializers). */
  declared: ValueInfo[];
  /** Concrete inputs, when every input can be generated. */
  specs?: ResolvedInput[];
  /** Why inputs cannot be generated (an open dim, a non-tensor input), naming the input and a realistic --shape. */
  problem?: string;
  /** Dims filled by convention or from the model, e.g. `x: dim 0 ("batch") = 1`. */
  assumed: string[];
}

/**
 * Resolves the model's inputs from its own declaration, `--shape` and `--value`: batch-like open dims
 * become 1 (what every batch computes, sample by sample); other open dims come from the shapes the model
 * records for the input (value_info), else they stay open and `problem` says which and suggests a
 * realistic size. A `--shape` that names nothing, has the wrong rank or contradicts a fixed dim is the
 * user's error (thrown), whether or not inputs are needed.
 */
export function planInputs(model: OnnxModel, label: string, shapes: Record<string, number[]>): InputPlan {
  const { inputs } = graphInputsOutputs(model);
  const recorded = graphValueInfo(model);
  const known = new Set([...inputs.map((i) => i.name), ...inputs.flatMap((i) => (i.shape ?? []).filter((d): d is string => typeof d === 'string'))]);
  for (const name of Object.keys(shapes)) {
    if (!known.has(name)) {
      throw new PruneInputError(`--shape ${name}=... names no input or dimension of ${label}; its inputs are ${inputs.map((i) => `${i.name} ${describeShape(i)}`).join(', ')}.`);
    }
  }
  const metadata = inputs.map((input) => {
    if (input.kind !== 'tensor') return { name: input.name, isTensor: false };
    let shape = input.shape;
    // A shape the exporter recorded for the same tensor fills dims the input declaration left open.
    const extra = recorded.get(input.name)?.shape;
    if (shape && extra && extra.length === shape.length) shape = shape.map((d, i) => (typeof d === 'number' ? d : typeof extra[i] === 'number' ? extra[i]! : d));
    return { name: input.name, isTensor: true, type: input.dtype ?? '', shape: (shape ?? []).map((d) => d ?? '') };
  });
  // The user's own --shape entries first, so their mistakes are reported as theirs.
  const given = metadata.filter((m) => shapes[m.name]);
  try {
    resolveInputs(given, shapes);
  } catch (error) {
    if (error instanceof InputSpecError) throw new PruneInputError(error.message);
    throw error;
  }
  try {
    const specs = resolveInputs(metadata, shapes);
    return { declared: inputs, specs, assumed: specs.flatMap((s) => (s.assumed ?? []).map((a) => `${s.name}: ${a}`)) };
  } catch (error) {
    if (!(error instanceof InputSpecError)) throw error;
    return { declared: inputs, problem: error.message, assumed: [] };
  }
}

/**
 * Whether the first `count` samples (the calibration `feeds`, else inputs generated from the plan) will likely
 * run as one batch in the scan, for its first estimate (the scanner decides by running one): several samples,
 * every declared input open along dim 0, every sample leading with 1 and of the same shapes (the rule of the
 * scanner's `batchFeeds` in sensitivity.ts, which also runs the batch once to see the model answer it alike).
 */
export function likelyBatched(plan: InputPlan, feeds: readonly Feeds[] | undefined, count: number): boolean {
  if (count < 2 || !plan.declared.every((i) => i.kind === 'tensor' && i.shape && typeof i.shape[0] !== 'number')) return false;
  const samples = feeds ? feeds.slice(0, count).map((f) => Object.values(f).map((t) => t.dims)) : plan.specs ? [plan.specs.map((spec) => spec.shape)] : [];
  return samples.length > 0 && new Set(samples.map((dims) => dims.map((d) => d.join('x')).join(';'))).size === 1 && samples[0]!.every((d) => d[0] === 1);
}

/** `[batch, 3, 48, ?]` for messages and `inspect`. */
export function describeShape(input: ValueInfo): string {
  if (input.kind !== 'tensor') return `(${input.kind})`;
  if (!input.shape) return '(any shape)';
  return `[${input.shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
}

/** A realistic `--shape` example for every input with open dims, e.g. `--shape x=1x3x48x192`. */
export function shapeExample(declared: readonly ValueInfo[]): string {
  return declared
    .filter((i) => i.kind === 'tensor' && i.shape && i.shape.some((d) => typeof d !== 'number'))
    .map((i) => `--shape ${i.name}=${suggestShape(i.shape!).join('x')}`)
    .join(' ');
}
