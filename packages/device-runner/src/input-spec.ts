import type { Random } from '@specprune/core/random';
import type { InputDtype } from './types.js';

/**
 * Resolves model inputs to concrete shapes and fills them with seeded values. Runs inside the payload
 * (child process, browser, board), so it must not import node-only modules.
 */

type TypedArrayConstructor =
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

interface DtypeInfo {
  bytes: number;
  /** float16 is carried as raw Uint16 bits: onnxruntime accepts that on node 18 and every browser. */
  array: TypedArrayConstructor;
  kind: 'float' | 'float16' | 'int' | 'bigint' | 'bool';
}

/** The one table of input element types the generator supports. */
export const INPUT_DTYPES: Readonly<Record<InputDtype, DtypeInfo>> = {
  float32: { bytes: 4, array: Float32Array, kind: 'float' },
  float64: { bytes: 8, array: Float64Array, kind: 'float' },
  float16: { bytes: 2, array: Uint16Array, kind: 'float16' },
  int8: { bytes: 1, array: Int8Array, kind: 'int' },
  uint8: { bytes: 1, array: Uint8Array, kind: 'int' },
  int16: { bytes: 2, array: Int16Array, kind: 'int' },
  uint16: { bytes: 2, array: Uint16Array, kind: 'int' },
  int32: { bytes: 4, array: Int32Array, kind: 'int' },
  uint32: { bytes: 4, array: Uint32Array, kind: 'int' },
  int64: { bytes: 8, array: BigInt64Array, kind: 'bigint' },
  uint64: { bytes: 8, array: BigUint64Array, kind: 'bigint' },
  bool: { bytes: 1, array: Uint8Array, kind: 'bool' },
};

export function isInputDtype(name: string): name is InputDtype {
  return Object.prototype.hasOwnProperty.call(INPUT_DTYPES, name);
}

/** One entry of onnxruntime's `session.inputMetadata` (1.2x+), as much of it as we read. */
export interface InputMetadataLike {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: readonly (number | string)[];
}

export interface ResolvedInput {
  name: string;
  dtype: InputDtype;
  shape: number[];
  /** Open dims this resolution filled by itself (batch-like dims set to 1), e.g. ["dim 0 (\"batch\") = 1"]. */
  assumed?: string[];
}

/**
 * An open dim that is a batch by convention: the first dim of an input of rank 2 or more, or any dim
 * named like one. A batch of 1 computes what every other batch size computes, sample by sample.
 */
export function isBatchLikeDim(shape: readonly (number | string | null | undefined)[], index: number): boolean {
  const dim = shape[index];
  if (typeof dim === 'string' && /^(batch|batch_size|batchsize|bs|n|b|N|B)$|batch/i.test(dim)) return true;
  return index === 0 && shape.length >= 2;
}

/**
 * A realistic concrete shape for a declared one, for messages that suggest a `--shape`: batch-like dims 1,
 * image-like inputs ([N, C, H, W] with C <= 4) 224 for open sides (or 4x the fixed side, rounded to 32, when
 * one side is fixed: text-line models), sequence-like dims 128. Never 1 for a spatial or sequence dim: a
 * 1x1 image makes most of a CNN see nothing.
 */
export function suggestShape(shape: readonly (number | string | null | undefined)[]): number[] {
  const fixed = (d: number | string | null | undefined): d is number => typeof d === 'number' && Number.isInteger(d) && d > 0;
  const image = shape.length === 4 && fixed(shape[1]) && shape[1] <= 4;
  return shape.map((dim, i) => {
    if (fixed(dim)) return dim;
    if (isBatchLikeDim(shape, i)) return 1;
    if (image && (i === 2 || i === 3)) {
      const other = shape[i === 2 ? 3 : 2];
      if (fixed(other)) return i === 3 ? Math.max(32, Math.round((other * 4) / 32) * 32) : other;
      return 224;
    }
    return 128;
  });
}

export class InputSpecError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'InputSpecError';
  }
}

/**
 * Fixes every dim: `shapes[inputName]` replaces a whole shape, `shapes[dimName]` (one number) binds a
 * symbolic dim wherever it appears. Throws InputSpecError naming the input and dim left open.
 */
export function resolveInputs(metadata: readonly InputMetadataLike[], shapes: Readonly<Record<string, number[]>>): ResolvedInput[] {
  const inputNames = new Set(metadata.map((m) => m.name));
  return metadata.map((input) => {
    if (!input.isTensor) throw new InputSpecError(`Input "${input.name}" is not a tensor (sequence or map); bench can only generate tensor inputs.`);
    const dtype = input.type ?? '';
    if (!isInputDtype(dtype)) {
      throw new InputSpecError(`Input "${input.name}" has element type ${dtype || 'unknown'}, which bench cannot generate; supported: ${Object.keys(INPUT_DTYPES).join(', ')}.`);
    }
    const declared = input.shape ?? [];
    const whole = shapes[input.name];
    if (whole) {
      if (declared.length > 0 && whole.length !== declared.length) {
        throw new InputSpecError(
          `--shape ${input.name}=${whole.join('x')} has ${whole.length} dims but input "${input.name}" has ${declared.length} (${formatDeclared(declared)}).`,
        );
      }
      declared.forEach((dim, i) => {
        if (typeof dim === 'number' && dim > 0 && dim !== whole[i]) {
          throw new InputSpecError(`--shape ${input.name}=${whole.join('x')} sets dim ${i} to ${whole[i]} but the model fixes it at ${dim}.`);
        }
      });
      return { name: input.name, dtype, shape: [...whole] };
    }
    const assumed: string[] = [];
    const shape = declared.map((dim, i) => {
      if (typeof dim === 'number' && Number.isInteger(dim) && dim > 0) return dim;
      if (typeof dim === 'string' && dim !== '' && !inputNames.has(dim)) {
        const bound = shapes[dim];
        if (bound && bound.length === 1) return bound[0]!;
      }
      const label = typeof dim === 'string' && dim !== '' ? `"${dim}"` : 'unnamed';
      if (isBatchLikeDim(declared, i)) {
        assumed.push(`dim ${i} (${label}) = 1`);
        return 1;
      }
      const open = declared.map((d, k) => (typeof d === 'number' && d > 0 ? undefined : k)).filter((k) => k !== undefined && !isBatchLikeDim(declared, k));
      const example = suggestShape(declared).join('x');
      throw new InputSpecError(
        `Input "${input.name}" has open dimension${open.length > 1 ? 's' : ''} ${open.join(', ')} in shape ${formatDeclared(declared)}; give the size you run it at, e.g. --shape ${input.name}=${example}` +
          (label !== 'unnamed' ? ` (or bind the dim by name: --shape ${dim}=N).` : '.'),
      );
    });
    if (assumed.length) return { name: input.name, dtype, shape, assumed };
    return { name: input.name, dtype, shape };
  });
}

function formatDeclared(shape: readonly (number | string)[]): string {
  return `[${shape.map((d) => (typeof d === 'number' ? String(d) : d || '?')).join(', ')}]`;
}

export type InputData = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

/**
 * Seeded values: floats uniform in [-1, 1), integers in [0, 8) (valid as small indices), bools 0/1, drawn
 * from core's generator (`createRandom` of `@specprune/core/random`, the one PRNG; it has no imports, so
 * the payload stays dependency-light and browser-safe).
 */
export function generateInputData(input: ResolvedInput, random: Random): InputData {
  const info = INPUT_DTYPES[input.dtype];
  const count = input.shape.reduce((n, d) => n * d, 1);
  const data = new info.array(count);
  for (let i = 0; i < count; i++) {
    const u = random.nextDouble();
    switch (info.kind) {
      case 'float':
        (data as Float32Array)[i] = u * 2 - 1;
        break;
      case 'float16':
        (data as Uint16Array)[i] = toFloat16Bits(u * 2 - 1);
        break;
      case 'int':
        (data as Int32Array)[i] = Math.floor(u * 8);
        break;
      case 'bigint':
        (data as BigInt64Array)[i] = BigInt(Math.floor(u * 8));
        break;
      case 'bool':
        (data as Uint8Array)[i] = u < 0.5 ? 0 : 1;
        break;
    }
  }
  return data;
}

/** IEEE 754 half bits of a value in (-1, 1); normal range only, which is all the generator produces. */
function toFloat16Bits(value: number): number {
  const sign = value < 0 ? 0x8000 : 0;
  const abs = Math.abs(value);
  if (abs < 6.103515625e-5) return sign;
  const exponent = Math.floor(Math.log2(abs));
  const mantissa = Math.round((abs / 2 ** exponent - 1) * 1024);
  return sign | ((exponent + 15) << 10) | Math.min(mantissa, 1023);
}
