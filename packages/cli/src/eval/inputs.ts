import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { UsageError } from '../errors.js';
import { readNpy, type NpyArray } from './npy.js';
import { createRandom, generateInputData, parseShapeFlags, resolveInputs, type ResolvedInput } from '@specprune/device-runner';

export type OrtModule = typeof import('onnxruntime-node');

/** onnxruntime-node, loaded only by the commands that run models. */
export async function loadOrt(): Promise<OrtModule> {
  const module = (await import('onnxruntime-node')) as OrtModule & { default?: OrtModule };
  return module.default ?? module;
}

export async function createSession(ort: OrtModule, file: string | Uint8Array, label: string): Promise<InferenceSession> {
  try {
    return await (typeof file === 'string'
      ? ort.InferenceSession.create(file, { graphOptimizationLevel: 'all', intraOpNumThreads: 1 })
      : ort.InferenceSession.create(file, { graphOptimizationLevel: 'all', intraOpNumThreads: 1 }));
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

/** Seeded random feeds shaped from the model (bench's generator); `values` fill inputs with a constant. */
export function randomFeeds(ort: OrtModule, specs: readonly ResolvedInput[], seed: number, values: Record<string, number>): Record<string, Tensor> {
  const random = createRandom(seed);
  const feeds: Record<string, Tensor> = {};
  for (const spec of specs) {
    const data = generateInputData(spec, random);
    const fixed = values[spec.name];
    if (fixed !== undefined) {
      if (data instanceof BigInt64Array || data instanceof BigUint64Array) (data as BigInt64Array).fill(BigInt(Math.round(fixed)));
      else (data as Float32Array).fill(fixed);
    }
    feeds[spec.name] = new ort.Tensor(spec.dtype as 'float32', data as Float32Array, spec.shape);
  }
  return feeds;
}

function npyToTensor(ort: OrtModule, array: NpyArray, file: string, spec: ResolvedInput): Tensor {
  const typeFor: Record<string, string> = { float32: 'float32', float16: 'float16', float64: 'float64', int64: 'int64', int32: 'int32', uint8: 'uint8', int8: 'int8', bool: 'bool' };
  if (typeFor[array.dtype] !== spec.dtype) {
    throw new UsageError(`${file} holds ${array.dtype} but input ${spec.name} expects ${spec.dtype}.`);
  }
  return new ort.Tensor(spec.dtype as 'float32', array.data as Float32Array, array.shape);
}

/**
 * Loads sample inputs from a folder in the --calibration/--inputs format: for a single-input model one
 * .npy per sample; for several inputs, INPUTNAME.K.npy. Samples are sorted by file name / K.
 */
export function loadSampleFeeds(ort: OrtModule, dir: string, specs: readonly ResolvedInput[], flag: string): Array<Record<string, Tensor>> {
  let files: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new Error();
    files = readdirSync(dir).filter((f) => f.endsWith('.npy')).sort();
  } catch {
    throw new UsageError(`${flag} ${dir} is not a folder; give a folder of .npy files.`);
  }
  if (files.length === 0) throw new UsageError(`${flag} ${dir} holds no .npy files.`);
  if (specs.length === 1) {
    return files.map((f) => ({ [specs[0]!.name]: npyToTensor(ort, readNpy(path.join(dir, f)), f, specs[0]!) }));
  }
  const samples = new Map<number, Record<string, Tensor>>();
  for (const f of files) {
    const match = /^(.+)\.(\d+)\.npy$/.exec(f);
    const spec = match && specs.find((s) => s.name === match[1]);
    if (!match || !spec) {
      throw new UsageError(`${flag} ${dir}: ${f} does not follow INPUTNAME.K.npy with INPUTNAME one of ${specs.map((s) => s.name).join(', ')}.`);
    }
    const k = Number(match[2]);
    const sample = samples.get(k) ?? {};
    sample[spec.name] = npyToTensor(ort, readNpy(path.join(dir, f)), f, spec);
    samples.set(k, sample);
  }
  return [...samples.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([k, sample]) => {
      const missing = specs.filter((s) => !sample[s.name]).map((s) => s.name);
      if (missing.length) throw new UsageError(`${flag} ${dir}: sample ${k} lacks ${missing.map((m) => `${m}.${k}.npy`).join(', ')}.`);
      return sample;
    });
}
