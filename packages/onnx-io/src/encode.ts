import { dtypeCode, type FloatDTypeName } from './dtypes.js';
import { INLINE, lenField, type RenderContext } from './message.js';
import { AttributeField, AttributeType, DataLocation, GraphField, NodeField, SparseTensorField, StringStringField, TensorField } from './onnx-fields.js';
import { encodeTag, encodeVarint, newWriter, WireType } from './wire.js';

const utf8 = new TextEncoder();

export function stringField(no: number, value: string): Uint8Array[] {
  return lenField(no, [utf8.encode(value)]);
}

export function varintField(no: number, value: number): Uint8Array[] {
  if (value < 0 || !Number.isSafeInteger(value)) throw new RangeError(`cannot encode ${value} as a varint`);
  return [encodeTag(no, WireType.VARINT), newWriter().uint64(value).finish()];
}

/** Repeated int64 written unpacked, as onnx.proto (proto2) declares it; readers accept both forms. */
export function int64Fields(no: number, values: readonly number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const v of values) out.push(encodeTag(no, WireType.VARINT), newWriter().int64(v).finish());
  return out;
}

export function stringEntry(no: number, key: string, value: string): Uint8Array[] {
  return lenField(no, [...stringField(StringStringField.key, key), ...stringField(StringStringField.value, value)]);
}

/**
 * TensorProto payload whose element bytes are rendered at write time: inline as raw_data, or in
 * the external data file when the writer decides so. `header` holds every other field verbatim.
 */
export function renderTensorPayload(header: readonly Uint8Array[], data: Uint8Array, context: RenderContext, wasExternal = false): Uint8Array[] {
  const external = context.externalize(data, wasExternal);
  if (!external) return [...header, ...lenField(TensorField.rawData, [data])];
  return [
    ...header,
    ...varintField(TensorField.dataLocation, DataLocation.EXTERNAL),
    ...stringEntry(TensorField.externalData, 'location', external.location),
    ...stringEntry(TensorField.externalData, 'offset', String(external.offset)),
    ...stringEntry(TensorField.externalData, 'length', String(external.length)),
  ];
}

/** Header fields (dims, data_type, name) of a new TensorProto. */
export function tensorHeader(name: string, dims: readonly number[], dataType: number): Uint8Array[] {
  return [...int64Fields(TensorField.dims, dims), ...varintField(TensorField.dataType, dataType), ...stringField(TensorField.name, name)];
}

export type IndexType = 'int16' | 'int32' | 'int64';

/**
 * How sparse tensors index their nonzeros. `int64`: what the ONNX spec requires (`onnx.checker` rejects
 * anything else), the default. `ort-narrow`: the narrowest type onnxruntime accepts, onnxruntime-only.
 * Measured with onnxruntime-node 1.30: in the main graph int16, int32 and int64 load (int8 too, but
 * onnxruntime-web is only verified from int16); in a subgraph only int64 does.
 */
export type SparseIndexMode = 'int64' | 'ort-narrow';

/** The linearised-index type of a sparse tensor of `numel` elements under `mode`. */
export function sparseIndexType(numel: number, inSubgraph: boolean, mode: SparseIndexMode = 'int64'): IndexType {
  if (inSubgraph || mode === 'int64') return 'int64';
  if (numel - 1 <= 0x7fff) return 'int16';
  if (numel - 1 <= 0x7fffffff) return 'int32';
  return 'int64';
}

/** Sparse tensors (sparse_initializer, Constant sparse_value) exist from ONNX IR version 6 on. */
export const SPARSE_MIN_IR_VERSION = 6;

const INDEX_BYTES: Record<IndexType, number> = { int16: 2, int32: 4, int64: 8 };

/** Bytes of sparse storage (values + indices) for `nnz` entries. */
export function sparseDataBytes(nnz: number, valueBytes: number, indexType: IndexType): number {
  return nnz * (valueBytes + INDEX_BYTES[indexType]);
}

/** Linearised indices of the nonzeros of `dense`, encoded little-endian in `indexType`. */
export function encodeIndices(positions: ArrayLike<number>, indexType: IndexType): Uint8Array {
  const n = positions.length;
  if (indexType === 'int16') {
    const out = new Int16Array(n);
    for (let i = 0; i < n; i++) out[i] = positions[i]!;
    return new Uint8Array(out.buffer);
  }
  if (indexType === 'int32') {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = positions[i]!;
    return new Uint8Array(out.buffer);
  }
  const out = new BigInt64Array(n);
  for (let i = 0; i < n; i++) out[i] = BigInt(positions[i]!);
  return new Uint8Array(out.buffer);
}

/** SparseTensorProto payload renderer: values named `name`, 1-D linear indices, dense dims. */
export function sparseTensorPayload(
  name: string,
  dims: readonly number[],
  dtype: FloatDTypeName,
  values: Uint8Array,
  nnz: number,
  indices: Uint8Array,
  indexType: IndexType,
): { render(context: RenderContext): Uint8Array[] } {
  return {
    render(context) {
      // Inline even when the model's data goes to an external file: onnx.checker validates a sparse tensor's
      // indices from its own bytes and rejects external ones ("Cannot parse data from external tensors").
      void context;
      const valuesPayload = renderTensorPayload(tensorHeader(name, [nnz], dtypeCode(dtype)), values, INLINE);
      const indicesPayload = renderTensorPayload(tensorHeader('', [nnz], dtypeCode(indexType)), indices, INLINE);
      return [
        ...lenField(SparseTensorField.values, valuesPayload),
        ...lenField(SparseTensorField.indices, indicesPayload),
        ...int64Fields(SparseTensorField.dims, dims),
      ];
    },
  };
}

/** AttributeProto for a Constant node holding a dense (`value`) or sparse (`sparse_value`) tensor. */
export function constantAttribute(kind: 'value' | 'sparse_value', payload: (context: RenderContext) => Uint8Array[]): {
  render(context: RenderContext): Uint8Array[];
} {
  return {
    render(context) {
      const inner = payload(context);
      return [
        ...stringField(AttributeField.name, kind),
        ...lenField(kind === 'value' ? AttributeField.t : AttributeField.sparseTensor, inner),
        ...varintField(AttributeField.type, kind === 'value' ? AttributeType.TENSOR : AttributeType.SPARSE_TENSOR),
      ];
    },
  };
}

export { encodeVarint };

/** Something rendered into a graph: an initializer or a node, as GraphProto fields. */
export type GraphFieldRenderer = { render(context: RenderContext): Uint8Array[] };

/** An initializer (GraphProto field) holding `data` (already encoded little-endian in `dataType`). */
export function initializerField(name: string, dims: readonly number[], dataType: number, data: Uint8Array): GraphFieldRenderer {
  return { render: (context) => lenField(GraphField.initializer, renderTensorPayload(tensorHeader(name, dims, dataType), data, context)) };
}

/** An INT attribute (NodeProto field). */
export function intAttributeField(name: string, value: number): Uint8Array[] {
  return lenField(NodeField.attribute, [...stringField(AttributeField.name, name), ...varintField(AttributeField.i, value), ...varintField(AttributeField.type, 2)]);
}

/** A STRING attribute (NodeProto field). */
export function stringAttributeField(name: string, value: string): Uint8Array[] {
  return lenField(NodeField.attribute, [...stringField(AttributeField.name, name), ...stringField(AttributeField.s, value), ...varintField(AttributeField.type, 3)]);
}

/** A node of the default domain (GraphProto field) with one output. */
export function nodeField(op: string, inputs: readonly string[], output: string, name: string, attributes: readonly Uint8Array[][] = []): Uint8Array[] {
  return lenField(GraphField.node, [
    ...inputs.flatMap((i) => stringField(NodeField.input, i)),
    ...stringField(NodeField.output, output),
    ...stringField(NodeField.name, name),
    ...stringField(NodeField.opType, op),
    ...attributes.flat(),
  ]);
}

/** A Constant node (GraphProto field) whose `value` is a dense tensor named `output`. */
export function constantNodeField(output: string, name: string, dims: readonly number[], dataType: number, data: Uint8Array): Uint8Array[] {
  const attribute = constantAttribute('value', (context) => renderTensorPayload(tensorHeader(output, dims, dataType), data, context));
  return lenField(GraphField.node, [...stringField(NodeField.output, output), ...stringField(NodeField.name, name), ...stringField(NodeField.opType, 'Constant'), ...lenField(NodeField.attribute, attribute.render(INLINE))]);
}
