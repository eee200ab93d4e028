import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { oneLine } from '../check/json-file.js';
import { UsageError } from '../errors.js';
import type { OrtModule } from './inputs.js';
import { readNpy, type NpyArray } from './npy.js';

/**
 * A model input as declared, for checking sample files against it: fixed dims are numbers, symbolic
 * dims strings (named, or "" when unnamed), free in a sample. An empty shape is not checked: onnxruntime
 * reports both a scalar and an input without shape information as [].
 */
export interface SampleInput {
  name: string;
  dtype: string;
  shape: ReadonlyArray<number | string>;
}

/** Where each loaded sample came from, for messages about runs on it. */
const sampleNames = new WeakMap<object, string>();

/**
 * A failed onnxruntime run on one sample as the user's error: the sample (its file, or its index among
 * generated ones), its shapes, the node that refused it and onnxruntime's reason, on one line.
 */
export function sampleRunError(error: unknown, feeds: Record<string, Tensor>, index: number, model: string): UsageError {
  const text = oneLine(String(error instanceof Error ? error.message : error));
  const node = /running (\w+) node/.exec(text)?.[1];
  // "Status Message: /src/.../reshape_helper.h:84 Signature(...) check was false. The reason." -> "The reason."
  let reason = (text.split('Status Message:').pop() ?? text).split(/ was false\.\s*/).pop()!.replace(/^\/\S+:\d+\s+/, '').trim();
  if (reason.length > 200) reason = `${reason.slice(0, 197)}...`;
  const shapes = Object.entries(feeds)
    .map(([name, t]) => `${name} [${t.dims.join(', ')}]`)
    .join(', ');
  const file = sampleNames.get(feeds);
  const which = file ?? `generated input ${index + 1}`;
  const fix = file ? 'give samples whose shapes and values suit the model' : 'fix input shapes with --shape NAME=DIMS or values with --value NAME=N';
  return new UsageError(`${model} cannot run on ${which} (${shapes}): ${node ? `its ${node} node refused it` : 'onnxruntime refused it'} (${reason.replace(/\.$/, '')}); ${fix}.`);
}

/** Sample values beyond this magnitude (and NaN, Inf) are refused: no real input is that large, and they poison statistics. */
export const MAX_SAMPLE_MAGNITUDE = 1e30;

/** The inputs as a loaded model declares them (onnxruntime's input metadata). */
export function sampleInputs(session: Pick<InferenceSession, 'inputMetadata'>): SampleInput[] {
  return session.inputMetadata.map((m) => (m.isTensor ? { name: m.name, dtype: m.type, shape: [...m.shape] } : { name: m.name, dtype: 'non-tensor', shape: [] }));
}

/**
 * Loads sample inputs from a folder in the --calibration/--inputs format: for a single-input model one
 * .npy per sample; for several inputs, INPUTNAME.K.npy. Samples are sorted by file name / K.
 * Every file is checked before any model runs: a regular file (readNpy never opens a FIFO), a valid .npy,
 * the input's dtype, rank and fixed dims, at least one element, finite values with |x| <= 1e30, and a
 * symbolic dim named alike in several inputs of one sample bound to one size. Throws UsageError naming
 * the file and what the input expects.
 */
export function loadSampleFeeds(ort: OrtModule, dir: string, inputs: readonly SampleInput[], flag: string): Array<Record<string, Tensor>> {
  let files: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new Error();
    files = readdirSync(dir).filter((f) => f.endsWith('.npy')).sort();
  } catch {
    throw new UsageError(`${flag} ${dir} is not a folder; give a folder of .npy files.`);
  }
  if (files.length === 0) throw new UsageError(`${flag} ${dir} holds no .npy files.`);
  const load = (f: string, input: SampleInput) => {
    const label = path.join(path.basename(dir), f);
    return toTensor(ort, checkSample(readNpy(path.join(dir, f), label), label, input, flag), input);
  };
  if (inputs.length === 1) {
    return files.map((f) => {
      const feed = { [inputs[0]!.name]: load(f, inputs[0]!) };
      sampleNames.set(feed, path.join(path.basename(dir), f));
      return feed;
    });
  }
  const samples = new Map<number, Record<string, Tensor>>();
  const fileNames = new Map<string, string>();
  for (const f of files) {
    const match = /^(.+)\.(\d+)\.npy$/.exec(f);
    const input = match && inputs.find((s) => s.name === match[1]);
    if (!match || !input) {
      throw new UsageError(`${flag} ${dir}: ${f} does not follow INPUTNAME.K.npy with INPUTNAME one of ${inputs.map((s) => s.name).join(', ')}.`);
    }
    const k = Number(match[2]);
    const sample = samples.get(k) ?? {};
    sample[input.name] = load(f, input);
    samples.set(k, sample);
    fileNames.set(`${input.name}\0${k}`, path.join(path.basename(dir), f));
  }
  return [...samples.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([k, sample]) => {
      const missing = inputs.filter((s) => !sample[s.name]).map((s) => s.name);
      if (missing.length) throw new UsageError(`${flag} ${dir}: sample ${k} lacks ${missing.map((m) => `${m}.${k}.npy`).join(', ')}.`);
      checkNamedDims(sample, inputs, (name) => fileNames.get(`${name}\0${k}`)!);
      sampleNames.set(sample, `sample ${k} of ${path.basename(dir)}`);
      return sample;
    });
}

const NPY_TO_ORT: Record<NpyArray['dtype'], string> = { float32: 'float32', float16: 'float16', float64: 'float64', int64: 'int64', int32: 'int32', uint8: 'uint8', int8: 'int8', bool: 'bool' };

/** The sample as the input needs it, or a UsageError saying what is wrong with it. */
function checkSample(array: NpyArray, label: string, input: SampleInput, flag: string): NpyArray {
  if (NPY_TO_ORT[array.dtype] !== input.dtype) throw new UsageError(`${label} holds ${array.dtype} but input ${input.name} expects ${input.dtype}.`);
  const shown = `[${array.shape.join(', ')}]`;
  const expected = `[${input.shape.map((d) => (typeof d === 'number' && d > 0 ? d : d || '?')).join(', ')}]`;
  if (input.shape.length > 0) {
    if (array.shape.length !== input.shape.length) {
      throw new UsageError(`${label} has shape ${shown} (rank ${array.shape.length}) but input ${input.name} expects ${expected} (rank ${input.shape.length}).`);
    }
    const wrong = input.shape
      .map((d, i) => ({ d, i }))
      .filter(({ d, i }) => typeof d === 'number' && d > 0 && array.shape[i] !== d)
      .map(({ d, i }) => `dim ${i} = ${d}`);
    if (wrong.length) throw new UsageError(`${label} has shape ${shown} but input ${input.name} expects ${expected} (${wrong.join(', ')}).`);
  }
  if (array.data.length === 0) throw new UsageError(`${label} has shape ${shown}, which holds no values; a sample needs at least one.`);
  const bad = firstNonFinite(array);
  if (bad) throw new UsageError(`${label} holds ${bad.value} at index ${bad.index}; ${flag} samples must be finite numbers with |x| <= ${MAX_SAMPLE_MAGNITUDE}.`);
  return array;
}

/** The first NaN, Inf or |x| > MAX_SAMPLE_MAGNITUDE of a floating-point sample. */
function firstNonFinite(array: NpyArray): { index: number; value: string } | undefined {
  const data = array.data;
  if (array.dtype === 'float16') {
    const bits = data as Uint16Array;
    for (let i = 0; i < bits.length; i++) {
      // Exponent all ones: Inf (mantissa 0) or NaN; float16 cannot exceed 65504 otherwise.
      if ((bits[i]! & 0x7c00) === 0x7c00) return { index: i, value: bits[i]! & 0x3ff ? 'NaN' : bits[i]! & 0x8000 ? '-Infinity' : 'Infinity' };
    }
    return undefined;
  }
  if (array.dtype !== 'float32' && array.dtype !== 'float64') return undefined;
  const values = data as Float32Array | Float64Array;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    // One comparison for the common case; NaN fails it too.
    if (!(v <= MAX_SAMPLE_MAGNITUDE && v >= -MAX_SAMPLE_MAGNITUDE)) return { index: i, value: Number.isNaN(v) ? 'NaN' : Number.isFinite(v) ? v.toExponential(2) : String(v) };
  }
  return undefined;
}

function toTensor(ort: OrtModule, array: NpyArray, input: SampleInput): Tensor {
  return new ort.Tensor(input.dtype as 'float32', array.data as Float32Array, array.shape);
}

/** A symbolic dim named in several places of one sample (e.g. "batch" of two inputs) must have one size. */
function checkNamedDims(sample: Record<string, Tensor>, inputs: readonly SampleInput[], fileOf: (input: string) => string): void {
  const seen = new Map<string, { size: number; input: string; dim: number }>();
  for (const input of inputs) {
    const dims = sample[input.name]?.dims;
    if (!dims) continue;
    input.shape.forEach((d, i) => {
      if (typeof d !== 'string' || d === '' || dims[i] === undefined) return;
      const first = seen.get(d);
      if (!first) seen.set(d, { size: dims[i]!, input: input.name, dim: i });
      else if (first.size !== dims[i]) {
        throw new UsageError(
          `${fileOf(input.name)} has ${d} = ${dims[i]} (dim ${i}) but ${fileOf(first.input)} has ${d} = ${first.size} (dim ${first.dim}); inputs ${first.input} and ${input.name} share the model's dim ${d}.`,
        );
      }
    });
  }
}
