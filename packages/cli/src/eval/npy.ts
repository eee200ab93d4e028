import { readFileSync, statSync } from 'node:fs';
import { UsageError } from '../errors.js';

export type NpyDType = 'float32' | 'float16' | 'float64' | 'int64' | 'int32' | 'uint8' | 'int8' | 'bool';

export interface NpyArray {
  dtype: NpyDType;
  shape: number[];
  /** Element values; int64 as BigInt64Array, float16 as raw Uint16Array bit patterns. */
  data: Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array | Int8Array | Uint16Array;
}

const DESCR: Record<string, { dtype: NpyDType; bytes: number }> = {
  '<f4': { dtype: 'float32', bytes: 4 },
  '<f2': { dtype: 'float16', bytes: 2 },
  '<f8': { dtype: 'float64', bytes: 8 },
  '<i8': { dtype: 'int64', bytes: 8 },
  '<i4': { dtype: 'int32', bytes: 4 },
  '|u1': { dtype: 'uint8', bytes: 1 },
  '|i1': { dtype: 'int8', bytes: 1 },
  '|b1': { dtype: 'bool', bytes: 1 },
};

/** The largest .npy file read (what one read of a file can hold); a sample is far smaller. */
export const MAX_NPY_BYTES = 2 ** 31 - 1;

/**
 * Reads a NumPy .npy file (format versions 1-3): little-endian float32/float16/float64/int64/int32,
 * uint8/int8/bool, C order. Anything else is refused with a message naming the file (`label`, default
 * the path); so is anything that is not a regular file, checked before opening (a FIFO would block).
 */
export function readNpy(file: string, label = file): NpyArray {
  let bytes: Buffer;
  try {
    const stats = statSync(file);
    if (!stats.isFile()) throw new UsageError(`${label} is ${stats.isDirectory() ? 'a directory' : stats.isFIFO() ? 'a FIFO' : 'a special file'}, not a .npy file; give a regular file.`);
    if (stats.size > MAX_NPY_BYTES) throw new UsageError(`${label} is ${stats.size} bytes; a .npy sample must be under 2 GiB.`);
    bytes = readFileSync(file);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`${label} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'unknown error'}); check the path of the .npy file.`);
  }
  return parseNpy(bytes, label);
}

export function parseNpy(bytes: Uint8Array, label: string): NpyArray {
  const fail = (why: string): never => {
    throw new UsageError(`${label} is not a valid .npy file: ${why}.`);
  };
  if (bytes.length < 10 || bytes[0] !== 0x93 || String.fromCharCode(...bytes.subarray(1, 6)) !== 'NUMPY') fail('missing the \\x93NUMPY magic');
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLength: number;
  let headerStart: number;
  if (major === 1) {
    headerLength = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) fail('truncated header');
    headerLength = view.getUint32(8, true);
    headerStart = 12;
  } else return fail(`unsupported format version ${major}`);
  if (headerStart + headerLength > bytes.length) fail('truncated header');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, headerStart + headerLength));
  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) return fail('header lacks descr, fortran_order or shape');
  if (fortran === 'True') fail('Fortran-order arrays are not supported; save with np.ascontiguousarray');
  const type = DESCR[descr];
  if (!type) return fail(`dtype ${JSON.stringify(descr.slice(0, 16)).slice(1, -1)} is not supported (use float32, float16, float64, int64, int32, uint8, int8 or bool, little-endian)`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const n = /^\d+L?$/.test(s) ? Number(s.replace(/L$/, '')) : NaN;
      if (!Number.isSafeInteger(n)) fail(`bad dimension ${JSON.stringify(s.slice(0, 24))}`);
      return n;
    });
  if (shape.length > 64) fail(`${shape.length} dimensions (at most 64)`);
  const count = shape.reduce((a, b) => a * b, 1);
  const dataStart = headerStart + headerLength;
  const expected = count * type.bytes;
  if (!Number.isSafeInteger(expected)) fail(`shape (${shape.join(', ')}) is larger than any file`);
  if (bytes.length - dataStart !== expected) fail(`shape (${shape.join(', ')}) of ${type.dtype} needs ${expected} data bytes, the file has ${bytes.length - dataStart}`);
  const copy = new Uint8Array(bytes.subarray(dataStart, dataStart + expected)).buffer;
  const data = (() => {
    switch (type.dtype) {
      case 'float32':
        return new Float32Array(copy);
      case 'float16':
        return new Uint16Array(copy);
      case 'float64':
        return new Float64Array(copy);
      case 'int64':
        return new BigInt64Array(copy);
      case 'int32':
        return new Int32Array(copy);
      case 'int8':
        return new Int8Array(copy);
      default:
        return new Uint8Array(copy);
    }
  })();
  return { dtype: type.dtype, shape, data };
}

/** Writes a C-order little-endian .npy (version 1.0) for tests and tools. */
export function encodeNpy(dtype: NpyDType, shape: readonly number[], data: ArrayBufferView): Uint8Array {
  const descr = Object.entries(DESCR).find(([, t]) => t.dtype === dtype)![0];
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, ...Array.from('NUMPY', (c) => c.charCodeAt(0)), 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}
