import { lenField } from './message.js';
import type { GraphInfo, OnnxModel } from './model.js';
import { stringField, varintField } from './encode.js';
import type { WeightRef } from './find-weights.js';
import { GraphField } from './onnx-fields.js';
import { removeNode } from './bitmask.js';

/** TensorProto.DataType FLOAT. */
const FLOAT = 1;

/**
 * Whether a weight can be fed to the model as a graph input (see {@link liftWeightsToInputs}): a float32
 * weight of the main graph stored as an initializer, a sparse initializer or a Constant node, with its
 * bytes inside the model.
 */
export function liftable(weight: WeightRef): boolean {
  const s = weight.storage;
  const stored = s.kind === 'initializer' || s.kind === 'sparse_initializer' || s.kind === 'constant';
  return stored && !weight.external && weight.storageGraph.path === 'main' && weight.dtype === 'float32';
}

/**
 * Turns float32 weights of the main graph (initializers, sparse initializers, Constant nodes) into graph inputs of the same name, type and shape, so a
 * runtime session can run the model with other values for them, passed in the feeds, instead of a new
 * model per set of values. Weights that are not {@link liftable} are left as they are. Returns the weights
 * lifted. Meant for a temporary copy used in measurements, never for a written model.
 */
export function liftWeightsToInputs(model: OnnxModel, weights: readonly WeightRef[]): WeightRef[] {
  const lifted: WeightRef[] = [];
  const inputs = new Set(model.graph.inputs);
  for (const weight of weights) {
    const s = weight.storage;
    if (!liftable(weight)) continue;
    if (s.kind === 'initializer') model.graph.message.replaceField(s.tensor.field, null);
    else if (s.kind === 'sparse_initializer') model.graph.message.replaceField(s.sparse.field, null);
    else if (s.kind === 'constant') removeNode(model.graph, s.node);
    // Below IR 4 every initializer is also declared as an input already.
    if (!inputs.has(weight.name)) {
      inputs.add(weight.name);
      model.graph.message.appendField(lenField(GraphField.input, valueInfo(weight.name, weight.shape, FLOAT)));
    }
    lifted.push(weight);
  }
  return lifted;
}

/**
 * The tensors that cross a cut of the main graph just before node `at` (in file order, which ONNX requires
 * to be topological): produced by a node before it and read by it or a later node. Undefined where a model
 * cut there cannot stand alone: a node from `at` on has subgraphs (they read outer names implicitly), or a
 * graph output is produced before the cut.
 */
export function cutTensors(graph: GraphInfo, at: number): string[] | undefined {
  const produced = new Set(graph.nodes.slice(0, at).flatMap((n) => n.outputs));
  if (graph.outputs.some((name) => produced.has(name))) return undefined;
  const crossing = new Set<string>();
  for (const node of graph.nodes.slice(at)) {
    if (node.attributes.some((a) => a.graphs.length > 0)) return undefined;
    for (const name of node.inputs) if (produced.has(name)) crossing.add(name);
  }
  return [...crossing];
}

/**
 * Keeps only the main-graph nodes from `at` on (see {@link cutTensors}) and declares the tensors crossing
 * the cut as graph inputs, so a runtime can run the rest of the model from captured activations. Meant for a
 * temporary copy used in measurements, never for a written model.
 */
export function cutModelBefore(model: OnnxModel, at: number, inputs: ReadonlyArray<{ name: string; dataType: number; dims: readonly number[] }>): void {
  for (const node of model.graph.nodes.slice(0, at)) removeNode(model.graph, node);
  for (const input of inputs) model.graph.message.appendField(lenField(GraphField.input, valueInfo(input.name, input.dims, input.dataType)));
}

/** A ValueInfoProto for a tensor of fixed shape. */
function valueInfo(name: string, shape: readonly number[], dataType: number): Uint8Array[] {
  const dims = shape.flatMap((d) => lenField(1, varintField(1, d)));
  const tensorType = [...varintField(1, dataType), ...lenField(2, dims)];
  return [...stringField(1, name), ...lenField(2, lenField(1, tensorType))];
}
