import type { Tensor } from 'onnxruntime-node';
import { UsageError } from '../errors.js';
import { OutputAgreement, randomSamples, type OutputFidelity } from '@specprune/prune';
import type { ResolvedInput } from '@specprune/device-runner';
import { createSession, inputSpecs, loadOrt, loadSampleFeeds, sampleInputs } from './inputs.js';
import { sampleRunError } from './samples.js';

export interface EvalOptions {
  /** Folder of .npy samples (calibration format); random inputs when absent. */
  inputs?: string;
  samples: number;
  shapes: Record<string, number[]>;
  values: Record<string, number>;
  seed: number;
}

/** One output's agreement, as the pipeline's fidelity check reports it. */
export type OutputResult = OutputFidelity;

export interface EvalResult {
  samples: number;
  inputs: 'random' | string;
  outputs: OutputResult[];
}

/**
 * Runs the reference and the candidate model with onnxruntime-node on the same inputs and measures
 * how closely the candidate's outputs agree, per output.
 */
export async function evaluate(reference: { file: string; label: string }, candidate: { file: string; label: string }, options: EvalOptions): Promise<EvalResult> {
  const ort = await loadOrt();
  const a = await createSession(ort, reference.file, reference.label);
  const b = await createSession(ort, candidate.file, candidate.label);
  try {
    // Sample files carry their own shapes (checked against the declared ones); only random inputs need every dim fixed.
    const specs: ResolvedInput[] = options.inputs ? [] : inputSpecs(a, options.shapes, reference.label);
    const sameInputs = a.inputNames.join('\0') === b.inputNames.join('\0');
    if (!sameInputs) throw new UsageError(`${candidate.label} has inputs ${b.inputNames.join(', ')} but ${reference.label} has ${a.inputNames.join(', ')}; they are not the same model.`);
    const samples: Array<Record<string, Tensor>> = options.inputs
      ? loadSampleFeeds(ort, options.inputs, sampleInputs(a), '--inputs')
      : randomSamples(ort, specs, options.seed, 'eval-inputs', options.samples, options.values);
    const outputNames = a.outputNames.filter((n) => b.outputNames.includes(n));
    if (outputNames.length === 0) throw new UsageError(`${reference.label} and ${candidate.label} share no output name.`);
    const agreements = new Map<string, OutputAgreement>();
    for (const [k, feeds] of samples.entries()) {
      let ra: Record<string, Tensor>;
      let rb: Record<string, Tensor>;
      try {
        ra = await a.run(feeds);
      } catch (error) {
        throw sampleRunError(error, feeds, k, reference.label);
      }
      try {
        rb = await b.run(feeds);
      } catch (error) {
        throw sampleRunError(error, feeds, k, candidate.label);
      }
      for (const name of outputNames) {
        const ta = ra[name]!;
        const tb = rb[name]!;
        if (!agreements.has(name)) {
          const last = ta.dims[ta.dims.length - 1];
          // Class scores look like [batch, classes]; recurrent states ([layers, batch, hidden]) do not.
          const classes = ta.dims.length === 2 && typeof last === 'number' && last >= 2 && (ta.type === 'float32' || ta.type === 'float16') ? last : undefined;
          agreements.set(name, new OutputAgreement(name, classes));
        }
        if (ta.type === 'string' || tb.type === 'string') continue;
        agreements.get(name)!.add(toNumbers(ta.data), toNumbers(tb.data));
      }
    }
    return { samples: samples.length, inputs: options.inputs ?? 'random', outputs: outputNames.map((n) => agreements.get(n)!.result()) };
  } finally {
    await a.release();
    await b.release();
  }
}

function toNumbers(data: Tensor['data']): ArrayLike<number> {
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Array.from(data, Number);
  return data as ArrayLike<number>;
}
