import { constantAttribute, int64Fields, renderTensorPayload, stringField, tensorHeader, varintField } from './encode.js';
import { lenField } from './message.js';
import type { GraphInfo, NodeInfo, OnnxModel, TensorInfo } from './model.js';
import { AttributeField, GraphField, NodeField } from './onnx-fields.js';
import { markRewritten } from './serialize.js';
import { readString, WireType } from './wire.js';

/** A dense constant tensor of a graph: an initializer, or the `value` of a Constant node (then `node` is set). */
export interface ConstantTensor {
  tensor: TensorInfo;
  node?: NodeInfo;
}

/**
 * The graph's dense constant tensors by name: initializers and Constant nodes holding a `value` tensor
 * (sparse initializers and other Constant forms are left out, so a caller treats them as unknown).
 */
export function constantTensors(graph: GraphInfo): Map<string, ConstantTensor> {
  const out = new Map<string, ConstantTensor>();
  for (const tensor of graph.initializers) out.set(tensor.name, { tensor });
  for (const node of graph.nodes) {
    if (node.opType !== 'Constant' || (node.domain !== '' && node.domain !== 'ai.onnx') || node.outputs.length !== 1) continue;
    const value = node.attributes.find((a) => a.name === 'value' && a.tensor);
    if (value && node.attributes.length === 1) out.set(node.outputs[0]!, { tensor: value.tensor!, node });
  }
  return out;
}

/**
 * Replaces a constant tensor by one of new dims and element bytes (same data type, same name), in place
 * in its initializer or Constant node. Used by structured pruning to shrink weights.
 */
export function replaceConstantTensor(model: OnnxModel, constant: ConstantTensor, dims: readonly number[], data: Uint8Array): void {
  const { tensor, node } = constant;
  // A Constant node's tensor is often unnamed: its name is the node's output.
  const header = tensorHeader(tensor.name, dims, tensor.dataType);
  if (node) {
    const attribute = node.attributes.find((a) => a.tensor === tensor)!;
    node.message.replaceField(attribute.field, {
      render: (context) => lenField(NodeField.attribute, constantAttribute('value', (c) => renderTensorPayload(header, data, c)).render(context)),
    });
    markRewritten(model, attribute);
  } else {
    tensor.message.parent!.replaceField(tensor.field, {
      render: (context) => lenField(tensor.field.no, renderTensorPayload(header, data, context, !!tensor.external)),
    });
  }
  markRewritten(model, tensor);
}

/** Sets (replaces) an integer attribute of a node, e.g. Conv's `group`. */
export function setIntAttribute(node: NodeInfo, name: string, value: number): void {
  const encoded = lenField(NodeField.attribute, [...stringField(AttributeField.name, name), ...varintField(AttributeField.i, value), ...varintField(AttributeField.type, 2)]);
  const existing = node.attributes.find((a) => a.name === name);
  if (existing) node.message.replaceField(existing.field, encoded);
  else node.message.appendField(encoded);
}

/** Sets (replaces) a repeated-int attribute of a node, e.g. Split's `split` sizes in opsets before 13. */
export function setIntsAttribute(node: NodeInfo, name: string, values: readonly number[]): void {
  const encoded = lenField(NodeField.attribute, [...stringField(AttributeField.name, name), ...int64Fields(AttributeField.ints, values), ...varintField(AttributeField.type, 7)]);
  const existing = node.attributes.find((a) => a.name === name);
  if (existing) node.message.replaceField(existing.field, encoded);
  else node.message.appendField(encoded);
}

/**
 * Removes the value_info entries for these tensors (their recorded shapes no longer hold) from the main graph and
 * every If/Loop/Scan body; returns how many were removed. value_info is optional: runtimes infer the shapes again.
 */
export function removeValueInfo(model: OnnxModel, names: ReadonlySet<string>): number {
  let removed = 0;
  const visit = (g: GraphInfo) => {
    const graph = g.message;
    for (const field of graph.all(GraphField.valueInfo)) {
      const nameField = graph.child(field).last(1);
      const name = nameField && nameField.wireType === WireType.LEN ? readString(model.bytes, nameField) : '';
      if (names.has(name)) {
        graph.replaceField(field, null);
        removed++;
      }
    }
    for (const node of g.nodes) for (const attribute of node.attributes) attribute.graphs.forEach(visit);
  };
  visit(model.graph);
  return removed;
}

/** Removes an initializer of the main graph that no node uses any more (e.g. a shared shape every user got a copy of). */
export function removeInitializer(model: OnnxModel, name: string): boolean {
  const tensor = model.graph.initializers.find((t) => t.name === name);
  if (!tensor) return false;
  tensor.message.parent!.replaceField(tensor.field, null);
  return true;
}

/** Adds an initializer to the main graph (e.g. a bias structured pruning creates). */
export function addInitializer(model: OnnxModel, name: string, dims: readonly number[], dataType: number, data: Uint8Array): void {
  const header = tensorHeader(name, dims, dataType);
  model.graph.message.appendField({ render: (context) => lenField(GraphField.initializer, renderTensorPayload(header, data, context)) });
}

/** Points input `index` of a node at another tensor (e.g. a private copy of a shared constant). */
export function setNodeInput(node: NodeInfo, index: number, name: string): void {
  const field = node.message.all(NodeField.input)[index];
  if (!field) throw new RangeError(`node ${node.name || node.outputs[0]} has no input ${index}`);
  node.message.replaceField(field, stringField(NodeField.input, name));
  node.inputs[index] = name;
}

/** Appends an input to a node (after its existing inputs; e.g. the optional bias of a Conv). */
export function appendNodeInput(node: NodeInfo, name: string): void {
  node.message.appendField(stringField(NodeField.input, name));
}
