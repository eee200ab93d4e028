import { OnnxInputError } from './errors.js';
import { MessageNode } from './message.js';
import type { AttributeInfo, ExternalDataFiles, GraphInfo, NodeInfo, OnnxModel, Opset, SparseTensorInfo, TensorInfo } from './model.js';
import {
  AttributeField,
  DataLocation,
  GraphField,
  ModelField,
  NodeField,
  OpsetField,
  SparseTensorField,
  StringStringField,
  TensorField,
} from './onnx-fields.js';
import { describeDataType, dtypeOf } from './dtypes.js';
import { resolveExternalData } from './external-data.js';
import { readRepeatedInt64, readSafeInteger, readString, WireError, WireType, type WireField } from './wire.js';

export interface ParseOptions {
  /** Name used in error messages (defaults to `path`, else "the model"). */
  label?: string;
  /** File the bytes were read from, if any (kept as `model.path`). */
  path?: string;
  /** Folder that external data is resolved against (kept as `model.dir`). */
  dir?: string;
  /** How external data files are resolved and read (the Node entry's readModel gives one; see ExternalDataFiles). */
  externalFiles?: ExternalDataFiles;
}

/**
 * Parses model bytes (not copied: the caller must not modify them while the model is in use). Tensors
 * stored as external data are recorded (TensorInfo.external); their bytes can be read only with
 * `options.externalFiles` and `options.dir`, which the Node entry's readModel gives.
 */
export function parseModel(bytes: Uint8Array, options: ParseOptions = {}): OnnxModel {
  const label = options.label ?? options.path ?? 'the model';
  if (bytes.byteLength === 0) throw new OnnxInputError(`${label} is empty (0 bytes); it is not an ONNX model.`);
  let root: MessageNode;
  try {
    root = new MessageNode(bytes, 0, bytes.byteLength);
    root.label = label;
  } catch (error) {
    throw wrapWireError(error, label, true);
  }
  const graphField = root.last(ModelField.graph);
  const irField = root.last(ModelField.irVersion);
  if (!graphField || graphField.wireType !== WireType.LEN || (irField && irField.wireType !== WireType.VARINT)) {
    throw new OnnxInputError(`${label} is not an ONNX model (no graph found in ${bytes.byteLength} bytes).`);
  }
  const context: Context = { label, dir: options.dir, files: options.externalFiles, bytes };
  try {
    const model: OnnxModel = {
      bytes,
      root,
      irVersion: irField ? readSafeInteger(bytes, irField) : 0,
      opsets: root.all(ModelField.opsetImport).map((f) => readOpset(root.child(f), bytes)),
      producerName: readOptionalString(root, ModelField.producerName),
      producerVersion: readOptionalString(root, ModelField.producerVersion),
      metadata: root.all(ModelField.metadataProps).map((f) => {
        const entry = root.child(f);
        return { key: readOptionalString(entry, StringStringField.key), value: readOptionalString(entry, StringStringField.value) };
      }),
      graph: readGraph(root.child(graphField), 'main', undefined, 0, context),
    };
    if (options.path !== undefined) model.path = options.path;
    if (options.dir !== undefined) model.dir = options.dir;
    if (options.externalFiles) model.externalFiles = options.externalFiles;
    return model;
  } catch (error) {
    throw wrapWireError(error, label, false);
  }
}

interface Context {
  label: string;
  dir: string | undefined;
  files: ExternalDataFiles | undefined;
  bytes: Uint8Array;
}

function wrapWireError(error: unknown, label: string, atRoot: boolean): Error {
  if (error instanceof OnnxInputError) return error;
  if (error instanceof WireError) {
    const what = atRoot ? 'is not an ONNX model' : 'is truncated or corrupt';
    return new OnnxInputError(`${label} ${what} (protobuf: ${error.message} at byte ${error.offset}).`, { cause: error });
  }
  return error instanceof Error ? error : new Error(String(error));
}

/** A sub-message; a malformed one is reported with where it is (the part of the model it belongs to). */
function childNamed(parent: MessageNode, field: WireField, context: Context, where: string): MessageNode {
  try {
    return parent.child(field);
  } catch (thrown) {
    const error = thrown instanceof OnnxInputError && thrown.cause instanceof WireError ? thrown.cause : thrown;
    if (!(error instanceof WireError)) throw error;
    throw new OnnxInputError(`${context.label} is truncated or corrupt in ${where} (protobuf: ${error.message} at byte ${error.offset}).`, { cause: error });
  }
}

function readOptionalString(message: MessageNode, no: number): string {
  const field = message.last(no);
  return field ? readString(message.bytes, field) : '';
}

function readStrings(message: MessageNode, no: number): string[] {
  return message.all(no).map((f) => readString(message.bytes, f));
}

function readOpset(message: MessageNode, bytes: Uint8Array): Opset {
  const version = message.last(OpsetField.version);
  return { domain: readOptionalString(message, OpsetField.domain), version: version ? readSafeInteger(bytes, version) : 0 };
}

function readValueInfoNames(graph: MessageNode, no: number): string[] {
  // ValueInfoProto.name is field 1
  return graph.all(no).map((f) => readOptionalString(graph.child(f), 1));
}

/**
 * How many subgraphs (If/Loop/Scan bodies) may nest inside each other. Each level costs three messages
 * (graph > node > attribute) and a tensor inside the deepest graph five more, so 30 levels stay within
 * protobuf's limit of 100 nested messages (MAX_MESSAGE_DEPTH) that onnxruntime and onnx enforce.
 */
export const MAX_SUBGRAPH_DEPTH = 30;

/** `level`: how many graphs enclose this one (0 for the main graph). */
function readGraph(message: MessageNode, graphPath: string, parent: GraphInfo | undefined, level: number, context: Context): GraphInfo {
  const graph: GraphInfo = {
    message,
    path: graphPath,
    name: readOptionalString(message, GraphField.name),
    nodes: [],
    initializers: [],
    sparseInitializers: [],
    inputs: readValueInfoNames(message, GraphField.input),
    outputs: readValueInfoNames(message, GraphField.output),
  };
  if (parent) graph.parent = parent;
  for (const field of message.all(GraphField.initializer)) {
    graph.initializers.push(readTensor(message, field, context, `initializer of graph ${graphPath}`));
  }
  for (const field of message.all(GraphField.sparseInitializer)) {
    graph.sparseInitializers.push(readSparseTensor(message, field, context));
  }
  message.all(GraphField.node).forEach((field, index) => graph.nodes.push(readNode(message, field, index, graph, level, context)));
  return graph;
}

function readNode(graphMessage: MessageNode, field: WireField, index: number, graph: GraphInfo, level: number, context: Context): NodeInfo {
  const message = childNamed(graphMessage, field, context, `node ${index} of graph ${graph.path}`);
  const node: NodeInfo = {
    message,
    field,
    index,
    name: readOptionalString(message, NodeField.name),
    opType: readOptionalString(message, NodeField.opType),
    domain: readOptionalString(message, NodeField.domain),
    inputs: readStrings(message, NodeField.input),
    outputs: readStrings(message, NodeField.output),
    attributes: [],
    graph,
  };
  const nodeLabel = node.name || `${node.opType}_${index}`;
  for (const attrField of message.all(NodeField.attribute)) {
    const attr = childNamed(message, attrField, context, `an attribute of node "${nodeLabel}"`);
    const typeField = attr.last(AttributeField.type);
    const info: AttributeInfo = {
      message: attr,
      field: attrField,
      name: readOptionalString(attr, AttributeField.name),
      type: typeField ? readSafeInteger(context.bytes, typeField) : 0,
      graphs: [],
    };
    const t = attr.last(AttributeField.t);
    if (t) info.tensor = readTensor(attr, t, context, `attribute ${info.name} of node ${nodeLabel}`);
    const sparse = attr.last(AttributeField.sparseTensor);
    if (sparse) info.sparseTensor = readSparseTensor(attr, sparse, context);
    const g = attr.last(AttributeField.g);
    const graphs = attr.all(AttributeField.graphs);
    if ((g || graphs.length > 0) && level + 1 > MAX_SUBGRAPH_DEPTH) {
      throw new OnnxInputError(
        `${context.label}: node "${nodeLabel}" (${node.opType}), attribute "${info.name}": subgraphs are nested more than ${MAX_SUBGRAPH_DEPTH} levels deep; ` +
          `protobuf parsers (onnxruntime, onnx) refuse models nested this deep, so re-export the model with fewer nested If/Loop/Scan bodies.`,
      );
    }
    if (g) info.graphs.push(readGraph(attr.child(g), `${graph.path}/${nodeLabel}/${info.name}`, graph, level + 1, context));
    graphs.forEach((gf, i) => {
      info.graphs.push(readGraph(attr.child(gf), `${graph.path}/${nodeLabel}/${info.name}[${i}]`, graph, level + 1, context));
    });
    node.attributes.push(info);
  }
  return node;
}

/** Highest TensorProto.DataType value defined by ONNX so far (1.18 added float8e8m0/uint2/int2). */
const MAX_KNOWN_DTYPE = 26;

/** Decodes a TensorProto's header and validates that its data agrees with dims x dtype. */
export function readTensor(parent: MessageNode, field: WireField, context: Context, where: string): TensorInfo {
  const message = childNamed(parent, field, context, `a tensor (${where})`);
  const bytes = context.bytes;
  const name = readOptionalString(message, TensorField.name);
  const label = name ? `tensor "${name}"` : `an unnamed tensor (${where})`;
  const typeField = message.last(TensorField.dataType);
  const dataType = typeField ? readSafeInteger(bytes, typeField) : 0;
  let dims: number[];
  try {
    dims = readRepeatedInt64(bytes, message.all(TensorField.dims)).map((d) => {
      if (d < 0n) throw new OnnxInputError(`${context.label}: ${label} has a negative dimension (${d}).`);
      if (d > BigInt(Number.MAX_SAFE_INTEGER)) throw new OnnxInputError(`${context.label}: ${label} has a dimension too large to address (${d}).`);
      return Number(d);
    });
  } catch (error) {
    throw wrapWireError(error, context.label, false);
  }
  let numel = 1;
  for (const d of dims) numel *= d;
  if (!Number.isSafeInteger(numel)) {
    throw new OnnxInputError(`${context.label}: ${label} has dims [${dims.join(', ')}] whose product overflows.`);
  }
  if (dataType <= 0 || dataType > MAX_KNOWN_DTYPE) {
    throw new OnnxInputError(`${context.label}: ${label} has an unknown data type (${dataType}); this is not a valid ONNX tensor.`);
  }
  const info: TensorInfo = { message, field, name, dataType, dims, numel };
  const locationField = message.last(TensorField.dataLocation);
  const isExternal = locationField !== undefined && readSafeInteger(bytes, locationField) === DataLocation.EXTERNAL;
  if (isExternal) {
    const entries: Record<string, string> = {};
    for (const f of message.all(TensorField.externalData)) {
      const entry = message.child(f);
      entries[readOptionalString(entry, StringStringField.key)] = readOptionalString(entry, StringStringField.value);
    }
    info.external = resolveExternalData(entries, context.dir, context.files, context.label, label);
  }
  const dtype = dtypeOf(dataType);
  // A valid ONNX type we do not decode (string, complex, float8, int4...) is carried verbatim and is never a weight.
  if (!dtype) return info;
  const expectedBytes = numel * dtype.bytes;
  const raw = message.last(TensorField.rawData);
  if (info.external) {
    if (info.external.length !== undefined && info.external.length !== expectedBytes) {
      throw new OnnxInputError(
        `${context.label}: ${label} declares ${info.external.length} bytes of external data, but dims [${dims.join(', ')}] of ${dtype.name} need ${expectedBytes}.`,
      );
    }
  } else if (raw) {
    const length = raw.end - raw.valueStart;
    if (length !== expectedBytes) {
      throw new OnnxInputError(
        `${context.label}: ${label} has ${length} bytes of raw_data, but dims [${dims.join(', ')}] of ${dtype.name} need ${expectedBytes}.`,
      );
    }
  } else {
    const count = countTypedValues(message, dtype.typedField, bytes);
    if (count !== 0 && count !== numel) {
      throw new OnnxInputError(
        `${context.label}: ${label} has ${count} values in ${dtype.typedField}, but dims [${dims.join(', ')}] need ${numel}.`,
      );
    }
    if (count === 0 && numel !== 0 && message.all(TensorField.segment).length === 0) {
      throw new OnnxInputError(`${context.label}: ${label} (${describeDataType(dataType)}, dims [${dims.join(', ')}]) has no data.`);
    }
  }
  return info;
}

const TYPED_FIELD_NUMBER = {
  float_data: TensorField.floatData,
  int32_data: TensorField.int32Data,
  int64_data: TensorField.int64Data,
  double_data: TensorField.doubleData,
  uint64_data: TensorField.uint64Data,
} as const;

/** Number of elements stored in a typed (non-raw) data field, packed or not. */
export function countTypedValues(message: MessageNode, typedField: keyof typeof TYPED_FIELD_NUMBER, bytes: Uint8Array): number {
  const no = TYPED_FIELD_NUMBER[typedField];
  let count = 0;
  for (const f of message.all(no)) {
    if (f.wireType === WireType.LEN) {
      if (typedField === 'float_data') count += (f.end - f.valueStart) / 4;
      else if (typedField === 'double_data') count += (f.end - f.valueStart) / 8;
      else for (let i = f.valueStart; i < f.end; i++) if ((bytes[i]! & 0x80) === 0) count++;
    } else count++;
  }
  if (!Number.isInteger(count)) throw new WireError(`packed ${typedField} has a length that is not a whole number of values`, message.start);
  return count;
}

export { TYPED_FIELD_NUMBER };

/** int8, uint8, int16, uint16, int32, uint32, int64 (onnxruntime reads all; the spec says int64). */
const SPARSE_INDEX_TYPES = new Set([2, 3, 4, 5, 6, 7, 12]);

function readSparseTensor(parent: MessageNode, field: WireField, context: Context): SparseTensorInfo {
  const message = parent.child(field);
  const valuesField = message.last(SparseTensorField.values);
  const indicesField = message.last(SparseTensorField.indices);
  if (!valuesField || !indicesField) throw new OnnxInputError(`${context.label}: a sparse tensor lacks values or indices.`);
  const values = readTensor(message, valuesField, context, 'sparse tensor values');
  const indices = readTensor(message, indicesField, context, `indices of sparse tensor "${values.name}"`);
  const dims = readRepeatedInt64(context.bytes, message.all(SparseTensorField.dims)).map((d) => {
    if (d < 0n || d > BigInt(Number.MAX_SAFE_INTEGER)) throw new OnnxInputError(`${context.label}: sparse tensor "${values.name}" has an invalid dimension (${d}).`);
    return Number(d);
  });
  let numel = 1;
  for (const d of dims) numel *= d;
  if (!Number.isSafeInteger(numel)) throw new OnnxInputError(`${context.label}: sparse tensor "${values.name}" has dims whose product overflows.`);
  const nnz = values.numel;
  const where = `${context.label}: sparse tensor "${values.name}" (dims [${dims.join(', ')}])`;
  if (values.dims.length !== 1) throw new OnnxInputError(`${where} has values of shape [${values.dims.join(', ')}]; sparse values must be 1-D [nnz].`);
  if (nnz > numel) throw new OnnxInputError(`${where} has ${nnz} values but only ${numel} elements.`);
  const linear = indices.dims.length === 1 && indices.dims[0] === nnz;
  const coordinate = indices.dims.length === 2 && indices.dims[0] === nnz && indices.dims[1] === dims.length;
  if (!linear && !coordinate) {
    throw new OnnxInputError(
      `${where} has ${nnz} values but indices of shape [${indices.dims.join(', ')}]; indices must be [${nnz}] (linear) or [${nnz}, ${dims.length}] (coordinates).`,
    );
  }
  if (!SPARSE_INDEX_TYPES.has(indices.dataType)) {
    throw new OnnxInputError(`${where} has indices of type ${describeDataType(indices.dataType)}; indices must be integers (int64).`);
  }
  return { message, field, name: values.name, dims, numel, values, indices };
}
