import { dtypeOf, type FloatDTypeName } from './dtypes.js';
import type { AttributeInfo, GraphInfo, NodeInfo, OnnxModel, SparseTensorInfo, TensorInfo } from './model.js';
import { countNonzeroBytes, floatDTypeName, readTensorBytes } from './tensor-data.js';

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

export type WeightLocation = 'initializer' | 'sparse_initializer' | 'constant';

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
}

interface Binding {
  storage: WeightStorage;
  graph: GraphInfo;
  name: string;
  viaIdentity: boolean;
}

/**
 * Finds every weight of the model: initializers, sparse initializers and Constant nodes of the main
 * graph and of If/Loop/Scan subgraphs at any depth, consumed directly, through Identity, or from an
 * enclosing graph's scope. Names are resolved with ONNX scoping: a name defined in a subgraph
 * (input, node output) shadows the same name from outside.
 */
export function findWeights(model: OnnxModel): WeightRef[] {
  const found = new Map<object, WeightRef>();
  visitGraph(model.graph, new Map(), found);
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
  }
}

function visitGraph(graph: GraphInfo, outer: ReadonlyMap<string, Binding>, found: Map<object, WeightRef>): void {
  const scope = new Map(outer);
  // Graph inputs shadow outer names; an initializer of the same name is its default value.
  for (const input of graph.inputs) scope.delete(input);
  for (const tensor of graph.initializers) scope.set(tensor.name, { storage: { kind: 'initializer', tensor }, graph, name: tensor.name, viaIdentity: false });
  for (const sparse of graph.sparseInitializers) {
    scope.set(sparse.name, { storage: { kind: 'sparse_initializer', sparse }, graph, name: sparse.name, viaIdentity: false });
  }
  for (const node of graph.nodes) {
    const slots = node.domain === '' || node.domain === 'ai.onnx' ? WEIGHT_SLOTS[node.opType] : undefined;
    if (slots) {
      for (const slot of slots) {
        const binding = scope.get(node.inputs[slot] ?? '');
        if (binding) recordUse(binding, node, slot, found);
      }
    }
    for (const attribute of node.attributes) for (const sub of attribute.graphs) visitGraph(sub, scope, found);
    const identitySource = node.opType === 'Identity' && (node.domain === '' || node.domain === 'ai.onnx') ? scope.get(node.inputs[0] ?? '') : undefined;
    for (const output of node.outputs) scope.delete(output);
    if (identitySource && node.outputs[0]) scope.set(node.outputs[0], { ...identitySource, viaIdentity: true });
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
    found.set(key, weight);
  }
  weight.uses.push({ op: node.opType, inputIndex: slot, node, graph: node.graph.path, viaIdentity: binding.viaIdentity });
}

function tensorHeader(storage: WeightStorage): { dataType: number; dims: number[]; numel: number; external: boolean } {
  const sparse = storage.kind === 'sparse_initializer' ? storage.sparse : storage.kind === 'constant' ? storage.sparse : undefined;
  if (sparse) return { dataType: sparse.values.dataType, dims: sparse.dims, numel: sparse.numel, external: !!(sparse.values.external || sparse.indices.external) };
  const tensor = storage.kind === 'initializer' ? storage.tensor : storage.kind === 'constant' ? storage.tensor! : undefined;
  return { dataType: tensor!.dataType, dims: tensor!.dims, numel: tensor!.numel, external: !!tensor!.external };
}

/** Number of nonzero elements of a weight (reads its data; external data is read from disk). */
export function countNonzero(model: OnnxModel, weight: WeightRef): number {
  const sparse = sparseOf(weight);
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

export { floatDTypeName };
