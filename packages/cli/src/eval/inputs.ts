import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { UsageError } from '../errors.js';
import { readNpy, type NpyArray } from './npy.js';

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

/** Parses repeated `--shape NAME=1x3x224x224`. */
export function parseShapes(specs: readonly string[] | undefined): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const spec of specs ?? []) {
    const match = /^([^=]+)=(\d+(?:x\d+)*)$/.exec(spec);
    if (!match) throw new UsageError(`--shape ${spec} is not NAME=DIMS; write e.g. --shape input=1x3x224x224.`);
    out[match[1]!] = match[2]!.split('x').map(Number);
  }
  return out;
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

interface InputSpec {
  name: string;
  type: string;
  shape: number[];
}

/** Resolves every input's concrete shape; a symbolic dim left open is a clear error naming the input. */
export function inputSpecs(session: InferenceSession, shapes: Record<string, number[]>, modelLabel: string): InputSpec[] {
  const known = new Set(session.inputNames);
  for (const name of Object.keys(shapes)) {
    if (!known.has(name)) throw new UsageError(`--shape ${name}=... names no input of ${modelLabel}; its inputs are ${[...known].join(', ')}.`);
  }
  return session.inputMetadata.map((meta) => {
    if (!meta.isTensor) throw new UsageError(`${modelLabel}: input ${meta.name} is not a tensor; specprune can only feed tensor inputs.`);
    const given = shapes[meta.name];
    if (given) {
      if (given.length !== meta.shape.length) {
        throw new UsageError(`--shape ${meta.name}=${given.join('x')} has ${given.length} dims, but input ${meta.name} of ${modelLabel} has ${meta.shape.length} ([${meta.shape.join(', ')}]).`);
      }
      meta.shape.forEach((d, i) => {
        if (typeof d === 'number' && d >= 0 && d !== given[i]) {
          throw new UsageError(`--shape ${meta.name}=${given.join('x')}: dim ${i} of ${meta.name} is fixed to ${d} in ${modelLabel}.`);
        }
      });
      return { name: meta.name, type: meta.type, shape: given };
    }
    const open = meta.shape.findIndex((d) => typeof d !== 'number' || d < 0);
    if (open >= 0) {
      throw new UsageError(
        `input ${meta.name} of ${modelLabel} has symbolic dim ${open} ("${meta.shape[open]}") in [${meta.shape.join(', ')}]; fix it with --shape ${meta.name}=${meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : 1)).join('x')}.`,
      );
    }
    return { name: meta.name, type: meta.type, shape: meta.shape as number[] };
  });
}

/** xorshift32 PRNG -> standard normal via Box-Muller, for inputs that are the same for the same seed. */
function normals(seed: number): () => number {
  let s = (seed ^ 0x9e3779b9) >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next());
}

/** Random feeds shaped from the model: floats ~ N(0, 1), integers in [0, 10), bools true; `values` fix inputs to a constant. */
export function randomFeeds(ort: OrtModule, specs: readonly InputSpec[], seed: number, values: Record<string, number>): Record<string, Tensor> {
  const random = normals(seed);
  const feeds: Record<string, Tensor> = {};
  for (const spec of specs) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const fixed = values[spec.name];
    switch (spec.type) {
      case 'float32':
        feeds[spec.name] = new ort.Tensor('float32', Float32Array.from({ length: n }, () => fixed ?? random()), spec.shape);
        break;
      case 'float64':
        feeds[spec.name] = new ort.Tensor('float64', Float64Array.from({ length: n }, () => fixed ?? random()), spec.shape);
        break;
      case 'int64':
        feeds[spec.name] = new ort.Tensor('int64', BigInt64Array.from({ length: n }, () => BigInt(Math.round(fixed ?? Math.floor(Math.abs(random()) * 5)))), spec.shape);
        break;
      case 'int32':
        feeds[spec.name] = new ort.Tensor('int32', Int32Array.from({ length: n }, () => Math.round(fixed ?? Math.floor(Math.abs(random()) * 5))), spec.shape);
        break;
      case 'bool':
        feeds[spec.name] = new ort.Tensor('bool', new Uint8Array(n).fill(fixed === 0 ? 0 : 1), spec.shape);
        break;
      case 'uint8':
        feeds[spec.name] = new ort.Tensor('uint8', Uint8Array.from({ length: n }, () => fixed ?? Math.floor(Math.abs(random()) * 80) % 256), spec.shape);
        break;
      default:
        throw new UsageError(`input ${spec.name} has type ${spec.type}; give sample inputs with --inputs instead of random ones.`);
    }
  }
  return feeds;
}

function npyToTensor(ort: OrtModule, array: NpyArray, file: string, spec: InputSpec): Tensor {
  const typeFor: Record<string, string> = { float32: 'float32', float16: 'float16', float64: 'float64', int64: 'int64', int32: 'int32', uint8: 'uint8', int8: 'int8', bool: 'bool' };
  if (typeFor[array.dtype] !== spec.type) {
    throw new UsageError(`${file} holds ${array.dtype} but input ${spec.name} expects ${spec.type}.`);
  }
  return new ort.Tensor(spec.type as 'float32', array.data as Float32Array, array.shape);
}

/**
 * Loads sample inputs from a folder in the --calibration/--inputs format: for a single-input model one
 * .npy per sample; for several inputs, INPUTNAME.K.npy. Samples are sorted by file name / K.
 */
export function loadSampleFeeds(ort: OrtModule, dir: string, specs: readonly InputSpec[], flag: string): Array<Record<string, Tensor>> {
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
