import { describeDataType, dtypeOf } from './dtypes.js';
import type { MessageNode } from './message.js';
import type { GraphInfo, OnnxModel } from './model.js';
import { GraphField } from './onnx-fields.js';
import { readInt64, readString, WireType, type WireField } from './wire.js';

/** One dim of a declared shape: a number, a named symbolic dim (`dim_param`), or null when unnamed and open. */
export type DeclaredDim = number | string | null;

/** A graph input or output as the model declares it (ValueInfoProto). */
export interface ValueInfo {
  name: string;
  /** 'tensor' for tensors; sequences, maps, optionals and sparse tensors are named as such. */
  kind: 'tensor' | 'sequence' | 'map' | 'optional' | 'sparse_tensor' | 'unknown';
  /** Element type name (float32, int64, ...) for tensors. */
  dtype?: string;
  /** Undefined when the model declares no shape at all (any rank). */
  shape?: DeclaredDim[];
}

// ValueInfoProto / TypeProto / TensorShapeProto field numbers (onnx.proto).
const ValueInfoField = { name: 1, type: 2 } as const;
const TypeField = { tensorType: 1, sequenceType: 4, mapType: 5, sparseTensorType: 8, optionalType: 9 } as const;
const TensorTypeField = { elemType: 1, shape: 2 } as const;
const ShapeField = { dim: 1 } as const;
const DimField = { value: 1, param: 2 } as const;

/**
 * The main graph's inputs (without those backed by an initializer, which older exporters also list as
 * inputs) and outputs, with their declared element types and shapes. Open dims are what a runtime needs
 * fixed before it can be given generated inputs.
 */
export function graphInputsOutputs(model: OnnxModel): { inputs: ValueInfo[]; outputs: ValueInfo[] } {
  const graph = model.graph;
  const initialized = new Set([...graph.initializers.map((t) => t.name), ...graph.sparseInitializers.map((t) => t.name)]);
  const read = (no: number) => graph.message.all(no).map((field) => readValueInfo(graph.message, field, model.bytes));
  return { inputs: read(GraphField.input).filter((v) => !initialized.has(v.name)), outputs: read(GraphField.output) };
}

/**
 * value_info entries of a graph by name (shapes an exporter recorded for intermediate tensors): the main graph's, or
 * those of `graph` (an If/Loop/Scan body), with `io` its declared inputs and outputs too (a body's are typed).
 */
export function graphValueInfo(model: OnnxModel, graph: GraphInfo = model.graph, io = false): Map<string, ValueInfo> {
  const fields = io ? [GraphField.input, GraphField.output, GraphField.valueInfo] : [GraphField.valueInfo];
  return new Map(fields.flatMap((no) => graph.message.all(no)).map((field) => {
    const info = readValueInfo(graph.message, field, model.bytes);
    return [info.name, info];
  }));
}

function readValueInfo(parent: MessageNode, field: WireField, bytes: Uint8Array): ValueInfo {
  const message = parent.child(field);
  const nameField = message.last(ValueInfoField.name);
  const name = nameField && nameField.wireType === WireType.LEN ? readString(bytes, nameField) : '';
  const typeField = message.last(ValueInfoField.type);
  if (!typeField || typeField.wireType !== WireType.LEN) return { name, kind: 'unknown' };
  const type = message.child(typeField);
  const tensorField = type.last(TypeField.tensorType);
  if (!tensorField || tensorField.wireType !== WireType.LEN) {
    const kind = type.last(TypeField.sequenceType) ? 'sequence' : type.last(TypeField.mapType) ? 'map' : type.last(TypeField.optionalType) ? 'optional' : type.last(TypeField.sparseTensorType) ? 'sparse_tensor' : 'unknown';
    return { name, kind };
  }
  const tensor = type.child(tensorField);
  const elemField = tensor.last(TensorTypeField.elemType);
  const code = elemField && elemField.wireType === WireType.VARINT ? Number(readInt64(bytes, elemField)) : 0;
  const dtype = dtypeOf(code)?.name ?? describeDataType(code);
  const shapeField = tensor.last(TensorTypeField.shape);
  if (!shapeField || shapeField.wireType !== WireType.LEN) return { name, kind: 'tensor', dtype };
  const shape = tensor.child(shapeField).all(ShapeField.dim).map((dimField): DeclaredDim => {
    if (dimField.wireType !== WireType.LEN) return null;
    const dim = tensor.child(shapeField).child(dimField);
    const value = dim.last(DimField.value);
    if (value && value.wireType === WireType.VARINT) {
      const n = readInt64(bytes, value);
      return n > 0n && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : null;
    }
    const param = dim.last(DimField.param);
    if (param && param.wireType === WireType.LEN) return readString(bytes, param) || null;
    return null;
  });
  return { name, kind: 'tensor', dtype, shape };
}
