import type { FloatDTypeName } from './dtypes.js';
import type { WeightRef } from './find-weights.js';
import { floatToHalf, halfToFloat } from './float16.js';
import { intAttribute } from './matrix-view.js';

/**
 * Value precision of a stored weight (`--values`): the kept values as they are (`float32`, meaning the weight's
 * own dtype), rounded to float16, or int8 with one symmetric scale per output channel. The decode in the model
 * (Cast, and Mul by the scales for int8) gives back exactly what {@link roundTripValues} computes here.
 */
export const VALUE_FORMS = ['float32', 'float16', 'int8'] as const;
export type ValueForm = (typeof VALUE_FORMS)[number];

/**
 * Whether `form` stores a `dtype` weight's values in lower precision than its own: float16 and int8 for float32
 * and float64 weights, int8 for float16 ones; never for bfloat16 (no CPU kernels to fold its decode).
 */
export function lowersPrecision(form: ValueForm, dtype: FloatDTypeName): boolean {
  return form !== 'float32' && dtype !== 'bfloat16' && !(form === 'float16' && dtype === 'float16');
}

/**
 * The tensor axis of a weight's output channels (the rows of its matrix view), along which int8 scales vary:
 * Conv [out, ...] 0; ConvTranspose [in, out/groups, ...] 1; MatMul B [..., K, N] the last, A [..., M, K] the
 * one before; Gemm by transA/transB; LSTM/GRU/RNN [directions, gates * hidden, ...] 1; otherwise 0.
 */
export function channelAxis(weight: Pick<WeightRef, 'shape' | 'uses'>): number {
  const use = weight.uses[0];
  const rank = weight.shape.length;
  switch (use?.op) {
    case 'ConvTranspose':
    case 'LSTM':
    case 'GRU':
    case 'RNN':
      return 1;
    case 'MatMul':
      return use.inputIndex === 1 ? rank - 1 : rank - 2;
    case 'Gemm':
      return use.inputIndex === 1 ? (intAttribute(use.node, 'transB', 0) ? 0 : 1) : intAttribute(use.node, 'transA', 0) ? 1 : 0;
    default:
      return 0;
  }
}

/**
 * The decode's product q * scale as the runtime computes it: in float64 for float64 weights, in float32 for
 * float32 ones, and in float32 then cast for float16 ones (see int8ScaleDtype).
 */
function rounder(dtype: FloatDTypeName): (x: number) => number {
  if (dtype === 'float16') return (x) => halfToFloat(floatToHalf(Math.fround(x)));
  if (dtype === 'float64') return (x) => x;
  return Math.fround;
}

/**
 * Symmetric int8 per output channel: scale_c = max|w_c| / 127 as a float32 number, whatever the weight's dtype
 * (1 for an all-zero channel; a float16 scale would lose precision below 2^-14 and vanish below 2^-25, so small
 * channels of float16 weights would be coarser or zeroed), q = round(w / scale_c) in [-127, 127]. Scales are laid out in the weight's shape with every axis
 * but `axis` of size 1, so the decode's Mul broadcasts them.
 */
export function quantizeInt8(values: Float32Array, dims: readonly number[], axis: number, dtype: FloatDTypeName): { q: Int8Array; scales: Float32Array; scaleDims: number[] } {
  const channels = dims[axis] ?? 1;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const maxAbs = new Float64Array(channels);
  for (let i = 0; i < values.length; i++) {
    const c = Math.floor(i / inner) % channels;
    const a = Math.abs(values[i]!);
    if (a > maxAbs[c]!) maxAbs[c] = a;
  }
  const scales = new Float32Array(channels);
  for (let c = 0; c < channels; c++) scales[c] = maxAbs[c]! > 0 && Number.isFinite(maxAbs[c]!) ? Math.fround(maxAbs[c]! / 127) || 1 : 1;
  const q = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const s = scales[Math.floor(i / inner) % channels]!;
    q[i] = Math.max(-127, Math.min(127, Math.round(values[i]! / s)));
  }
  return { q, scales, scaleDims: dims.map((d, k) => (k === axis ? d : 1)) };
}

/** q * scale, rounded as the runtime's Cast + Mul (+ Cast for float16 weights) compute it. */
export function dequantizeInt8(q: Int8Array, scales: Float32Array, dims: readonly number[], axis: number, dtype: FloatDTypeName): Float32Array {
  const channels = dims[axis] ?? 1;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const round = rounder(dtype);
  const out = new Float32Array(q.length);
  for (let i = 0; i < q.length; i++) out[i] = round(q[i]! * scales[Math.floor(i / inner) % channels]!);
  return out;
}

/** The values a weight computes with once stored in `form` and decoded (a new array; float32 form: a copy). */
export function roundTripValues(values: Float32Array, weight: Pick<WeightRef, 'shape' | 'uses' | 'dtype'>, form: ValueForm): Float32Array {
  if (form === 'int8') {
    const axis = channelAxis(weight);
    const { q, scales } = quantizeInt8(values, weight.shape, axis, weight.dtype);
    return dequantizeInt8(q, scales, weight.shape, axis, weight.dtype);
  }
  if (form === 'float16') return values.map((v) => halfToFloat(floatToHalf(v)));
  return values.slice();
}

/**
 * The dtype int8 values of a `dtype` weight are scaled in: the weight's, except float16, which onnxruntime
 * cannot multiply on the CPU at session creation (it would not fold the decode), so float16 weights scale in
 * float32 and cast the product to float16.
 */
export function int8ScaleDtype(dtype: FloatDTypeName): FloatDTypeName {
  return dtype === 'float16' ? 'float32' : dtype;
}

/** dequantizeInt8 with the channel axis read from the scale tensor's dims (all 1 but the channel axis). */
export function dequantizeByScaleDims(q: Int8Array, scales: Float32Array, scaleDims: readonly number[], dims: readonly number[], dtype: FloatDTypeName): Float32Array {
  const axis = scaleDims.findIndex((d) => d !== 1);
  // One scale for everything when the channel axis has size 1.
  return axis < 0 ? dequantizeInt8(q, scales, [1, q.length], 0, dtype) : dequantizeInt8(q, scales, dims, axis, dtype);
}
