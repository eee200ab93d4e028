import { OnnxInputError } from './errors.js';
import type { OnnxModel, SparseTensorInfo } from './model.js';
import { readTensorBytes, decodeFloat32, floatDTypeName } from './tensor-data.js';
import { dtypeOf } from './dtypes.js';

/**
 * Linear (row-major) positions of a sparse tensor's values, whatever its index layout. Validates them:
 * every index in range and strictly increasing (ONNX's canonical order), so each element is stored once.
 */
export function readSparseIndices(model: OnnxModel, sparse: SparseTensorInfo): Float64Array {
  const label = model.path ?? 'the model';
  const dtype = dtypeOf(sparse.indices.dataType)?.name;
  if (dtype !== 'int64' && dtype !== 'int32' && dtype !== 'int16' && dtype !== 'int8' && dtype !== 'uint8' && dtype !== 'uint16' && dtype !== 'uint32') {
    throw new OnnxInputError(`${label}: sparse tensor "${sparse.name}" has indices of type ${dtype ?? sparse.indices.dataType}; expected an integer type.`);
  }
  const bytes = readTensorBytes(model, sparse.indices);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = dtypeOf(sparse.indices.dataType)!.bytes;
  const signed = dtype.startsWith('int');
  const read = (i: number): number => {
    switch (size) {
      case 1:
        return signed ? view.getInt8(i) : view.getUint8(i);
      case 2:
        return signed ? view.getInt16(2 * i, true) : view.getUint16(2 * i, true);
      case 4:
        return signed ? view.getInt32(4 * i, true) : view.getUint32(4 * i, true);
      default:
        return Number(view.getBigInt64(8 * i, true));
    }
  };
  const nnz = sparse.values.numel;
  const out = new Float64Array(nnz);
  const rank = sparse.dims.length;
  const coordinate = sparse.indices.dims.length === 2;
  const where = `${label}: sparse tensor "${sparse.name}" (dims [${sparse.dims.join(', ')}])`;
  let previous = -1;
  for (let k = 0; k < nnz; k++) {
    let linear: number;
    if (coordinate) {
      linear = 0;
      for (let r = 0; r < rank; r++) {
        const c = read(k * rank + r);
        if (!(c >= 0 && c < sparse.dims[r]!)) {
          throw new OnnxInputError(`${where} has coordinate ${c} on axis ${r} at index entry ${k}, outside [0, ${sparse.dims[r]}).`);
        }
        linear = linear * sparse.dims[r]! + c;
      }
    } else linear = read(k);
    if (!(linear >= 0 && linear < sparse.numel)) {
      throw new OnnxInputError(`${where} has index ${linear} at entry ${k}, outside its ${sparse.numel} elements.`);
    }
    // ONNX requires indices in strictly increasing row-major order: no duplicates (whose value would be ambiguous).
    if (linear <= previous) {
      throw new OnnxInputError(
        `${where} has index ${linear} at entry ${k} after ${previous}; ${linear === previous ? 'indices must not repeat' : 'indices must be sorted in increasing order'}.`,
      );
    }
    previous = linear;
    out[k] = linear;
  }
  return out;
}

/** The dense float32 contents of a sparse float tensor. */
export function densifySparse(model: OnnxModel, sparse: SparseTensorInfo): Float32Array {
  const values = decodeFloat32(readTensorBytes(model, sparse.values), floatDTypeName(sparse.values.dataType));
  const indices = readSparseIndices(model, sparse);
  const out = new Float32Array(sparse.numel);
  for (let k = 0; k < values.length; k++) out[indices[k]!] = values[k]!;
  return out;
}
