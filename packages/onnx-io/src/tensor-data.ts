import { OnnxInputError } from './errors.js';
import { dtypeOf, describeDataType, type FloatDTypeName } from './dtypes.js';
import { readExternalBytes } from './external-data.js';
import { bfloat16ToFloat, floatToBfloat16, floatToHalf, halfToFloat } from './float16.js';
import type { OnnxModel, TensorInfo } from './model.js';
import { TensorField } from './onnx-fields.js';
import { countTypedValues, TYPED_FIELD_NUMBER } from './parse-model.js';
import { readRepeatedInt64, WireType } from './wire.js';

function labelOf(model: OnnxModel): string {
  return model.path ?? 'the model';
}

/**
 * The tensor's elements as little-endian bytes, whatever the storage form (raw_data, typed fields,
 * external file: only for models read by the Node entry, see readExternalBytes). raw_data is returned
 * as a view into the model's bytes, not a copy.
 */
export function readTensorBytes(model: OnnxModel, tensor: TensorInfo): Uint8Array {
  const dtype = dtypeOf(tensor.dataType);
  const tensorLabel = `tensor "${tensor.name}"`;
  if (!dtype) throw new OnnxInputError(`${labelOf(model)}: ${tensorLabel} has data type ${describeDataType(tensor.dataType)}, which specprune does not decode.`);
  const expected = tensor.numel * dtype.bytes;
  if (tensor.external) return readExternalBytes(model, tensor.external, expected, labelOf(model), tensorLabel);
  const message = tensor.message;
  const bytes = message.bytes;
  const raw = message.last(TensorField.rawData);
  if (raw) return bytes.subarray(raw.valueStart, raw.end);
  const out = new Uint8Array(expected);
  if (tensor.numel === 0) return out;
  const view = new DataView(out.buffer);
  const fields = message.all(TYPED_FIELD_NUMBER[dtype.typedField]);
  const count = countTypedValues(message, dtype.typedField, bytes);
  if (count !== tensor.numel) {
    throw new OnnxInputError(`${labelOf(model)}: ${tensorLabel} has ${count} values in ${dtype.typedField}, but needs ${tensor.numel}.`);
  }
  let i = 0;
  const src = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype.typedField) {
    case 'float_data':
      for (const f of fields) {
        if (f.wireType === WireType.LEN) for (let p = f.valueStart; p < f.end; p += 4) view.setFloat32(4 * i++, src.getFloat32(p, true), true);
        else view.setFloat32(4 * i++, src.getFloat32(f.valueStart, true), true);
      }
      break;
    case 'double_data':
      for (const f of fields) {
        if (f.wireType === WireType.LEN) for (let p = f.valueStart; p < f.end; p += 8) view.setFloat64(8 * i++, src.getFloat64(p, true), true);
        else view.setFloat64(8 * i++, src.getFloat64(f.valueStart, true), true);
      }
      break;
    case 'int32_data':
    case 'int64_data':
    case 'uint64_data': {
      // fp16/bf16 keep their 16-bit patterns in int32_data; small ints keep their value.
      const values = readRepeatedInt64(bytes, fields);
      for (const v of values) writeElement(view, i++, dtype.bytes, v);
      break;
    }
  }
  return out;
}

function writeElement(view: DataView, index: number, size: number, value: bigint): void {
  switch (size) {
    case 1:
      view.setUint8(index, Number(BigInt.asUintN(8, value)));
      break;
    case 2:
      view.setUint16(2 * index, Number(BigInt.asUintN(16, value)), true);
      break;
    case 4:
      view.setUint32(4 * index, Number(BigInt.asUintN(32, value)), true);
      break;
    default:
      view.setBigUint64(8 * index, BigInt.asUintN(64, value), true);
  }
}

/** Decodes a float tensor (float32/float16/bfloat16/float64) to a new Float32Array. */
export function readTensorFloat32(model: OnnxModel, tensor: TensorInfo): Float32Array {
  return decodeFloat32(readTensorBytes(model, tensor), floatDTypeName(tensor.dataType));
}

export function floatDTypeName(code: number): FloatDTypeName {
  const name = dtypeOf(code)?.name;
  if (name === 'float32' || name === 'float16' || name === 'bfloat16' || name === 'float64') return name;
  throw new Error(`data type ${describeDataType(code)} is not a floating-point type`);
}

/** Little-endian element bytes of a float dtype -> Float32Array (always a new array). */
export function decodeFloat32(bytes: Uint8Array, dtype: FloatDTypeName): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'float32': {
      const out = new Float32Array(bytes.byteLength / 4);
      new Uint8Array(out.buffer).set(bytes);
      return out;
    }
    case 'float64': {
      const out = new Float32Array(bytes.byteLength / 8);
      for (let i = 0; i < out.length; i++) out[i] = view.getFloat64(8 * i, true);
      return out;
    }
    case 'float16': {
      const out = new Float32Array(bytes.byteLength / 2);
      for (let i = 0; i < out.length; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
      return out;
    }
    case 'bfloat16': {
      const out = new Float32Array(bytes.byteLength / 2);
      for (let i = 0; i < out.length; i++) out[i] = bfloat16ToFloat(view.getUint16(2 * i, true));
      return out;
    }
  }
}

/** Float32 values -> little-endian element bytes of `dtype` (round to nearest even for 16-bit types). */
export function encodeFloat32(values: Float32Array, dtype: FloatDTypeName): Uint8Array {
  switch (dtype) {
    case 'float32':
      return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    case 'float64': {
      const out = new Float64Array(values.length);
      out.set(values);
      return new Uint8Array(out.buffer);
    }
    case 'float16':
    case 'bfloat16': {
      const out = new Uint16Array(values.length);
      const convert = dtype === 'float16' ? floatToHalf : floatToBfloat16;
      for (let i = 0; i < values.length; i++) out[i] = convert(values[i]!);
      return new Uint8Array(out.buffer);
    }
  }
}

/** Counts nonzero elements of little-endian float bytes without decoding (-0 counts as zero). */
export function countNonzeroBytes(bytes: Uint8Array, elementBytes: number): number {
  let count = 0;
  const n = bytes.byteLength / elementBytes;
  if (elementBytes === 4 && bytes.byteOffset % 4 === 0) {
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, n);
    for (let i = 0; i < n; i++) if ((words[i]! & 0x7fffffff) !== 0) count++;
    return count;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) {
    switch (elementBytes) {
      case 2:
        if ((view.getUint16(2 * i, true) & 0x7fff) !== 0) count++;
        break;
      case 4:
        if ((view.getUint32(4 * i, true) & 0x7fffffff) !== 0) count++;
        break;
      case 8:
        if (((view.getUint32(8 * i + 4, true) & 0x7fffffff) | view.getUint32(8 * i, true)) !== 0) count++;
        break;
      default:
        if (view.getUint8(i) !== 0) count++;
    }
  }
  return count;
}
