import { decodeBitmaskBytes, decodeBitmaskFloat32, recogniseBitmask, type BitmaskParts } from './bitmask.js';
import { dtypeCode, dtypeOf, type FloatDTypeName } from './dtypes.js';
import { decodeQuantizedFloat32, recogniseQuantized, type QuantizedParts } from './quantized.js';
import type { AttributeInfo, GraphInfo, NodeInfo, OnnxModel, SparseTensorInfo, TensorInfo } from './model.js';
import { OnnxInputError } from './errors.js';
import { AttributeField } from './onnx-fields.js';
import { readSparseIndices } from './sparse-data.js';
import { countNonzeroBytes, floatDTypeName, readTensorBytes } from './tensor-data.js';
import { readInt64, readRepeatedInt64, readString, WireError, WireType } from './wire.js';

/** Ops whose inputs at these slots are weights (CLI.md "Weights"). */
export const WEIGHT_SLOTS: Readonly<Record<string, readonly number[]>> = {
  Conv: [1],
  ConvTranspose: [1],
  MatMul: [0, 1],
  Gemm: [0, 1],
  LSTM: [1, 2],
  GRU: [1, 2],
  RNN: [1, 2],
};

export type WeightLocation = 'initializer' | 'sparse_initializer' | 'constant' | 'bitmask' | 'quantized';

/** How one node uses a weight. */
export interface WeightUse {
  op: string;
  /** Input slot of the consuming node (e.g. 1 for Conv's W). */
  inputIndex: number;
  node: NodeInfo;
  /** Path of the graph the consuming node is in (may be a subgraph of the storing graph). */
  graph: string;
  /** Consumed through one or more Identity nodes. */
  viaIdentity: boolean;
}

/** Where a weight is stored, so it can be rewritten in place. */
export type WeightStorage =
  | { kind: 'initializer'; tensor: TensorInfo }
  | { kind: 'sparse_initializer'; sparse: SparseTensorInfo }
  /** Nonzero values + packed mask + the decode subgraph that rebuilds it (see bitmask.ts). */
  | { kind: 'bitmask'; node: NodeInfo; parts: BitmaskParts }
  /** Dense with float16 or int8 values and a Cast/Mul decode (see quantized.ts). */
  | { kind: 'quantized'; node: NodeInfo; parts: QuantizedParts }
  | { kind: 'constant'; node: NodeInfo; attribute: AttributeInfo; tensor?: TensorInfo; sparse?: SparseTensorInfo };

/** A weight: a float tensor of rank >= 2 feeding a weight slot, counted once in the graph that stores it. */
export interface WeightRef {
  name: string;
  /** Path of the graph that stores it ("main" or a subgraph path). */
  graph: string;
  storageGraph: GraphInfo;
  location: WeightLocation;
  /** Data is in an external file. */
  external: boolean;
  dtype: FloatDTypeName;
  shape: number[];
  numel: number;
  storage: WeightStorage;
  uses: WeightUse[];
  /**
   * An initializer that is also an input of its graph (IR >= 4): its value is only a default the caller
   * may replace at run time. It is still a weight (it is what the model computes with unless overridden),
   * but pruning it has no effect on runs that feed that input.
   */
  overridable?: boolean;
  /** Bitmask storage with values of lower precision than the weight (`--values`): their dtype (float16, int8). */
  storedValues?: 'float16' | 'int8';
}

interface Binding {
  storage: WeightStorage;
  graph: GraphInfo;
  name: string;
  viaIdentity: boolean;
  overridable?: boolean;
}

/**
 * Names visible in one graph: its own bindings, then the enclosing graph's. A chain instead of a copy
 * per subgraph, so a graph of many If/Loop nodes costs time linear in its size. `null` marks a name
 * this graph shadows (an input or a node output that is not a weight).
 */
class Scope {
  private readonly own = new Map<string, Binding | null>();
  constructor(private readonly outer?: Scope) {}

  get(name: string): Binding | undefined {
    for (let scope: Scope | undefined = this; scope; scope = scope.outer) {
      const binding = scope.own.get(name);
      if (binding !== undefined) return binding ?? undefined;
    }
    return undefined;
  }

  set(name: string, binding: Binding | null): void {
    this.own.set(name, binding);
  }
}

/**
 * Finds every weight of the model: initializers, sparse initializers and Constant nodes of the main
 * graph and of If/Loop/Scan subgraphs at any depth, consumed directly, through Identity, or from an
 * enclosing graph's scope. Names are resolved with ONNX scoping: a name defined in a subgraph
 * (input, node output) shadows the same name from outside.
 */
export function findWeights(model: OnnxModel): WeightRef[] {
  const found = new Map<object, WeightRef>();
  const label = model.path ?? 'the model';
  visitGraph(model, model.graph, new Scope(), found, model.irVersion >= 4);
  try {
    for (const weight of found.values()) for (const use of weight.uses) validateUse(weight, use, label);
  } catch (error) {
    if (!(error instanceof WireError)) throw error;
    throw new OnnxInputError(`${label} is truncated or corrupt (protobuf: ${error.message} at byte ${error.offset}).`, { cause: error });
  }
  return [...found.values()];
}

function storageKey(storage: WeightStorage): object {
  switch (storage.kind) {
    case 'initializer':
      return storage.tensor;
    case 'sparse_initializer':
      return storage.sparse;
    case 'constant':
      return storage.attribute;
    case 'bitmask':
    case 'quantized':
      return storage.node;
  }
}

function visitGraph(model: OnnxModel, graph: GraphInfo, outer: Scope, found: Map<object, WeightRef>, inputsOverride: boolean): void {
  const scope = new Scope(outer);
  // Graph inputs shadow outer names; an initializer of the same name is its default value.
  const inputs = new Set(graph.inputs);
  for (const input of inputs) scope.set(input, null);
  for (const tensor of graph.initializers) {
    const binding: Binding = { storage: { kind: 'initializer', tensor }, graph, name: tensor.name, viaIdentity: false };
    // Before IR 4 every initializer had to be listed as an input too, so being one says nothing.
    if (inputsOverride && inputs.has(tensor.name)) binding.overridable = true;
    scope.set(tensor.name, binding);
  }
  for (const sparse of graph.sparseInitializers) {
    const binding: Binding = { storage: { kind: 'sparse_initializer', sparse }, graph, name: sparse.name, viaIdentity: false };
    if (inputsOverride && inputs.has(sparse.name)) binding.overridable = true;
    scope.set(sparse.name, binding);
  }
  for (const node of graph.nodes) {
    const slots = node.domain === '' || node.domain === 'ai.onnx' ? WEIGHT_SLOTS[node.opType] : undefined;
    if (slots) {
      for (const slot of slots) {
        const binding = scope.get(node.inputs[slot] ?? '');
        if (binding) recordUse(binding, node, slot, found);
      }
    }
    for (const attribute of node.attributes) for (const sub of attribute.graphs) visitGraph(model, sub, scope, found, inputsOverride);
    const identitySource = node.opType === 'Identity' && (node.domain === '' || node.domain === 'ai.onnx') ? scope.get(node.inputs[0] ?? '') : undefined;
    for (const output of node.outputs) scope.set(output, null);
    if (identitySource && node.outputs[0]) scope.set(node.outputs[0], { ...identitySource, viaIdentity: true });
    const bitmask = recogniseBitmask(model, graph, node);
    if (bitmask) scope.set(node.outputs[0]!, { storage: { kind: 'bitmask', node, parts: bitmask }, graph, name: node.outputs[0]!, viaIdentity: false });
    const quantized = recogniseQuantized(graph, node);
    if (quantized) scope.set(node.outputs[0]!, { storage: { kind: 'quantized', node, parts: quantized }, graph, name: node.outputs[0]!, viaIdentity: false });
    if (node.opType === 'Constant' && (node.domain === '' || node.domain === 'ai.onnx') && node.outputs[0]) {
      const attribute = node.attributes.find((a) => (a.name === 'value' && a.tensor) || (a.name === 'sparse_value' && a.sparseTensor));
      if (attribute) {
        const storage: WeightStorage = { kind: 'constant', node, attribute };
        if (attribute.tensor) storage.tensor = attribute.tensor;
        if (attribute.sparseTensor) storage.sparse = attribute.sparseTensor;
        scope.set(node.outputs[0], { storage, graph, name: node.outputs[0], viaIdentity: false });
      }
    }
  }
}

function recordUse(binding: Binding, node: NodeInfo, slot: number, found: Map<object, WeightRef>): void {
  const key = storageKey(binding.storage);
  let weight = found.get(key);
  if (!weight) {
    const header = tensorHeader(binding.storage);
    const dtype = dtypeOf(header.dataType)?.name;
    if (header.dims.length < 2 || (dtype !== 'float32' && dtype !== 'float16' && dtype !== 'bfloat16' && dtype !== 'float64')) return;
    weight = {
      name: binding.name,
      graph: binding.graph.path,
      storageGraph: binding.graph,
      location: binding.storage.kind,
      external: header.external,
      dtype,
      shape: header.dims,
      numel: header.numel,
      storage: binding.storage,
      uses: [],
    };
    if (binding.overridable) weight.overridable = true;
    if (binding.storage.kind === 'bitmask' || binding.storage.kind === 'quantized') {
      const stored = dtypeOf((binding.storage.kind === 'bitmask' ? binding.storage.parts.values : binding.storage.parts.stored).dataType)?.name;
      if (stored !== dtype && (stored === 'float16' || stored === 'int8')) weight.storedValues = stored;
    }
    found.set(key, weight);
  }
  weight.uses.push({ op: node.opType, inputIndex: slot, node, graph: node.graph.path, viaIdentity: binding.viaIdentity });
}

function tensorHeader(storage: WeightStorage): { dataType: number; dims: number[]; numel: number; external: boolean } {
  if (storage.kind === 'quantized') {
    const { stored, scale, dims, dtype } = storage.parts;
    return { dataType: dtypeCode(dtype), dims, numel: dims.reduce((a, b) => a * b, 1), external: !!(stored.external || scale?.external) };
  }
  if (storage.kind === 'bitmask') {
    const { values, mask, dims } = storage.parts;
    return { dataType: dtypeCode(storage.parts.dtype), dims, numel: dims.reduce((a, b) => a * b, 1), external: !!(values.external || mask.external) };
  }
  const sparse = storage.kind === 'sparse_initializer' ? storage.sparse : storage.kind === 'constant' ? storage.sparse : undefined;
  if (sparse) return { dataType: sparse.values.dataType, dims: sparse.dims, numel: sparse.numel, external: !!(sparse.values.external || sparse.indices.external) };
  const tensor = storage.kind === 'initializer' ? storage.tensor : storage.kind === 'constant' ? storage.tensor! : undefined;
  return { dataType: tensor!.dataType, dims: tensor!.dims, numel: tensor!.numel, external: !!tensor!.external };
}

/** Number of nonzero elements of a weight (reads its data; external data is read from disk). */
export function countNonzero(model: OnnxModel, weight: WeightRef): number {
  // Decoding validates the parts (mask size, one value per set bit), so a count is never reported for a broken weight.
  if (weight.storage.kind === 'quantized') {
    const stored = weight.storage.parts.stored;
    return countNonzeroBytes(readTensorBytes(model, stored), dtypeOf(stored.dataType)!.bytes);
  }
  if (weight.storage.kind === 'bitmask') return countNonzeroBytes(decodeBitmaskBytes(model, weight.name, weight.storage.parts), dtypeOf(weight.storage.parts.values.dataType)!.bytes);
  const sparse = sparseOf(weight);
  // Reading the indices validates them (range, order), so a count is never reported for a broken tensor.
  if (sparse) readSparseIndices(model, sparse);
  if (sparse) return countNonzeroBytes(readTensorBytes(model, sparse.values), dtypeOf(sparse.values.dataType)!.bytes);
  const tensor = denseTensorOf(weight)!;
  return countNonzeroBytes(readTensorBytes(model, tensor), dtypeOf(tensor.dataType)!.bytes);
}

export function sparseOf(weight: WeightRef): SparseTensorInfo | undefined {
  const s = weight.storage;
  return s.kind === 'sparse_initializer' ? s.sparse : s.kind === 'constant' ? s.sparse : undefined;
}

export function denseTensorOf(weight: WeightRef): TensorInfo | undefined {
  const s = weight.storage;
  return s.kind === 'initializer' ? s.tensor : s.kind === 'constant' ? s.tensor : undefined;
}

/** The values of a bitmask- or quantized-stored weight, decoded as its decode nodes do (undefined for other storages). */
export function decodedValuesOf(model: OnnxModel, weight: WeightRef): Float32Array | undefined {
  if (weight.storage.kind === 'quantized') return decodeQuantizedFloat32(model, weight.storage.parts);
  return weight.storage.kind === 'bitmask' ? decodeBitmaskFloat32(model, weight.name, weight.storage.parts) : undefined;
}

export { floatDTypeName };

/** Largest value accepted for a count-like attribute (group, hidden_size, strides...): ONNX stores them as int64, kernels use int32. */
const MAX_ATTRIBUTE_INT = 2 ** 31 - 1;

/**
 * Checks that a weight's shape agrees with the node that consumes it and with that node's attributes,
 * so nothing downstream computes with a group of 0, a hidden size that does not divide the gate rows, or
 * a Gemm operand of rank 3. Throws OnnxInputError naming the node, the attribute (or input) and the tensor.
 */
function validateUse(weight: WeightRef, use: WeightUse, label: string): void {
  const node = use.node;
  const shape = weight.shape;
  const where = `${label}: node "${node.name || `${node.opType}_${node.index}`}" (${node.opType}) in graph ${use.graph}`;
  const tensor = `weight "${weight.name}" [${shape.join(', ')}]`;
  const fail = (what: string): never => {
    throw new OnnxInputError(`${where}${what}`);
  };
  const positiveInt = (name: string, fallback: number): number => {
    const value = readIntAttribute(node, name);
    if (value === undefined) return fallback;
    if (value === 'not-an-int') return fail(`, attribute "${name}" is not an integer; it must be a positive integer.`);
    if (value < 1n || value > BigInt(MAX_ATTRIBUTE_INT)) return fail(`, attribute "${name}" is ${value}; it must be a positive integer (at most ${MAX_ATTRIBUTE_INT}).`);
    return Number(value);
  };
  switch (use.op) {
    case 'Conv':
    case 'ConvTranspose': {
      if (shape.length < 3) fail(` has ${tensor} of rank ${shape.length} at input ${use.inputIndex}; ${use.op} weights are [channels, channels/group, kernel...] (rank >= 3).`);
      const group = positiveInt('group', 1);
      // Conv W is [M, C/group, k...]: M splits into groups. ConvTranspose W is [C, M/group, k...]: C does.
      const channels = shape[0]!;
      if (channels % group !== 0) {
        fail(`, attribute "group" is ${group}, which does not divide the ${channels} ${use.op === 'Conv' ? 'output' : 'input'} channels of ${tensor}.`);
      }
      const spatial = shape.length - 2;
      for (const name of ['strides', 'dilations'] as const) {
        const values = readIntsAttribute(node, name);
        if (values === undefined) continue;
        if (values.length !== spatial) fail(`, attribute "${name}" has ${values.length} values; ${tensor} has ${spatial} spatial dims.`);
        const bad = values.find((v) => v < 1n || v > BigInt(MAX_ATTRIBUTE_INT));
        if (bad !== undefined) fail(`, attribute "${name}" holds ${bad}; each must be a positive integer.`);
      }
      const pads = readIntsAttribute(node, 'pads');
      if (pads !== undefined) {
        if (pads.length !== 2 * spatial) fail(`, attribute "pads" has ${pads.length} values; ${tensor} needs ${2 * spatial} (begin and end per spatial dim).`);
        const bad = pads.find((v) => v < 0n || v > BigInt(MAX_ATTRIBUTE_INT));
        if (bad !== undefined) fail(`, attribute "pads" holds ${bad}; pads must be integers >= 0.`);
      }
      const kernel = readIntsAttribute(node, 'kernel_shape');
      if (kernel !== undefined && (kernel.length !== spatial || kernel.some((k, i) => k !== BigInt(shape[2 + i]!)))) {
        fail(`, attribute "kernel_shape" is [${kernel.join(', ')}] but ${tensor} has kernel [${shape.slice(2).join(', ')}].`);
      }
      return;
    }
    case 'Gemm':
      if (shape.length !== 2) fail(` has ${tensor} of rank ${shape.length} at input ${use.inputIndex}; Gemm takes 2-D matrices.`);
      return;
    case 'LSTM':
    case 'GRU':
    case 'RNN': {
      const gates = use.op === 'LSTM' ? 4 : use.op === 'GRU' ? 3 : 1;
      const input = use.inputIndex === 1 ? 'W' : 'R';
      if (shape.length !== 3) fail(` has ${input} = ${tensor} of rank ${shape.length}; ${use.op} ${input} is [num_directions, ${gates}*hidden_size, ${input === 'W' ? 'input_size' : 'hidden_size'}].`);
      const direction = readStringAttribute(node, 'direction') ?? 'forward';
      if (direction !== 'forward' && direction !== 'reverse' && direction !== 'bidirectional') {
        fail(`, attribute "direction" is "${direction}"; use forward, reverse or bidirectional.`);
      }
      const directions = direction === 'bidirectional' ? 2 : 1;
      if (shape[0] !== directions) fail(`, attribute "direction" is ${direction} (${directions} direction${directions > 1 ? 's' : ''}) but ${input} = ${tensor} has ${shape[0]}.`);
      const hiddenAttr = readIntAttribute(node, 'hidden_size');
      const hidden = hiddenAttr === undefined ? shape[1]! / gates : positiveInt('hidden_size', 1);
      if (!Number.isInteger(hidden) || shape[1] !== gates * hidden) {
        fail(
          hiddenAttr === undefined
            ? ` has ${input} = ${tensor}, whose ${shape[1]} rows do not split into ${gates} gate${gates > 1 ? 's' : ''}.`
            : `, attribute "hidden_size" is ${hidden} but ${input} = ${tensor} has ${shape[1]} rows, not ${gates} x ${hidden}.`,
        );
      }
      if (input === 'R' && shape[2] !== hidden) {
        const source = hiddenAttr === undefined ? `its rows give hidden_size ${hidden}` : `attribute "hidden_size" is ${hidden}`;
        fail(` has R = ${tensor} with ${shape[2]} columns, but ${source}; R is [num_directions, ${gates}*hidden_size, hidden_size].`);
      }
      return;
    }
    default:
      return;
  }
}

function attributeNamed(node: NodeInfo, name: string): AttributeInfo | undefined {
  for (let i = node.attributes.length - 1; i >= 0; i--) if (node.attributes[i]!.name === name) return node.attributes[i];
  return undefined;
}

function readIntAttribute(node: NodeInfo, name: string): bigint | 'not-an-int' | undefined {
  const attribute = attributeNamed(node, name);
  if (!attribute) return undefined;
  const field = attribute.message.last(AttributeField.i);
  if (!field || field.wireType !== WireType.VARINT) return 'not-an-int';
  return readInt64(attribute.message.bytes, field);
}

function readIntsAttribute(node: NodeInfo, name: string): bigint[] | undefined {
  const attribute = attributeNamed(node, name);
  return attribute ? readRepeatedInt64(attribute.message.bytes, attribute.message.all(AttributeField.ints)) : undefined;
}

function readStringAttribute(node: NodeInfo, name: string): string | undefined {
  const field = attributeNamed(node, name)?.message.last(AttributeField.s);
  return field ? readString(attributeNamed(node, name)!.message.bytes, field) : undefined;
}
