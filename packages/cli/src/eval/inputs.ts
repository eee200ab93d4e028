import type { InferenceSession } from 'onnxruntime-node';
import { UsageError } from '../errors.js';
import { parseShapeFlags, resolveInputs, type ResolvedInput } from '@specprune/device-runner';

export type OrtModule = typeof import('onnxruntime-node');

/** onnxruntime-node, loaded only by the commands that run models. */
export async function loadOrt(): Promise<OrtModule> {
  const module = (await import('onnxruntime-node')) as OrtModule & { default?: OrtModule };
  return module.default ?? module;
}

export async function createSession(ort: OrtModule, file: string | Uint8Array, label: string): Promise<InferenceSession> {
  try {
    // Fatal only: onnxruntime's own warnings and errors would read as specprune's; errors reach the user as our sentence.
    const options = { graphOptimizationLevel: 'all', intraOpNumThreads: 1, logSeverityLevel: 4 } as const;
    return await (typeof file === 'string' ? ort.InferenceSession.create(file, options) : ort.InferenceSession.create(file, options));
  } catch (error) {
    throw new UsageError(`${label} cannot be loaded by onnxruntime-node: ${String((error as Error).message).split('\n')[0]}`);
  }
}

/** Parses repeated `--shape NAME=1x3x224x224` (the same syntax as `bench`). */
export function parseShapes(specs: readonly string[] | undefined): Record<string, number[]> {
  return parseShapeFlags(specs ?? []);
}

/** Parses repeated `--value NAME=NUMBER` (fills an input with one constant, e.g. a sample rate). */
export function parseValues(specs: readonly string[] | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const spec of specs ?? []) {
    const match = /^([^=]+)=(-?[\d.e+-]+)$/.exec(spec);
    if (!match || !Number.isFinite(Number(match[2]))) throw new UsageError(`--value ${spec} is not NAME=NUMBER; write e.g. --value sr=16000.`);
    out[match[1]!] = Number(match[2]);
  }
  return out;
}

/**
 * Every input's concrete shape and type, with device-runner's rules (the ones `bench` uses): `--shape`
 * fixes a whole input or binds a named symbolic dim; an open dim is an error naming input and dim.
 */
export function inputSpecs(session: InferenceSession, shapes: Record<string, number[]>, modelLabel: string): ResolvedInput[] {
  const known = new Set([...session.inputNames, ...session.inputMetadata.flatMap((m) => (m.isTensor ? m.shape.filter((d): d is string => typeof d === 'string') : []))]);
  for (const name of Object.keys(shapes)) {
    if (!known.has(name)) throw new UsageError(`--shape ${name}=... names no input or dimension of ${modelLabel}; its inputs are ${session.inputNames.join(', ')}.`);
  }
  return resolveInputs(
    session.inputMetadata.map((m) => (m.isTensor ? { name: m.name, isTensor: true, type: m.type, shape: m.shape } : { name: m.name, isTensor: false })),
    shapes,
  );
}

/** Sample folders (--calibration, --inputs): read and checked against the model's declared inputs in samples.ts. */
export { loadSampleFeeds, sampleInputs, type SampleInput } from './samples.js';
