import { addInitializer, appendNodeInput, dtypeOf, encodeFloat32, intsAttribute, readTensorBytes, readTensorFloat32, removeInitializer, removeValueInfo, replaceConstantTensor, setIntAttribute, setIntsAttribute, setNodeInput, type GraphInfo, type OnnxModel } from '@specprune/onnx-io';
import { attributeFloat, type ChannelAnalysis, type ConsumerInfo, type Segment, type ShapeEdit } from './analyze.js';
import type { ChannelStats } from './choose.js';
import { refitConsumers, type ConsumerGram, type PairedGram, type RefitCache, type RefitOutcome } from './refit.js';

/**
 * Removes channels from the model in place: every constant the analysis recorded is sliced along its
 * channel axes, Reshape shape constants and depthwise `group` attributes follow the kept counts, and
 * value_info entries of tensors whose channel count changed are dropped. `keep` maps a root group to the
 * indices of its kept channels (ascending); groups not in it keep all. With `grams`, the consumers they
 * cover are re-fit by least squares on the kept channels first (see refit.ts); the others take the
 * removed channels' means into their bias (with `stats`). `cache` keeps fits for later calls on the same model.
 */
export function applyChannelPruning(
  model: OnnxModel,
  analysis: ChannelAnalysis,
  keep: ReadonlyMap<number, Int32Array>,
  stats?: ChannelStats,
  grams?: readonly ConsumerGram[],
  paired?: ReadonlyMap<string, PairedGram>,
  cache?: RefitCache,
): { compensated: number; refits: RefitOutcome[] } {
  const changed = (segments: readonly Segment[]) => segments.some((s) => (keep.get(analysis.root(s.group))?.length ?? s.count) !== s.count);
  const indices = (segments: readonly Segment[], block: number): Int32Array => {
    const out: number[] = [];
    let offset = 0;
    for (const s of segments) {
      const kept = keep.get(analysis.root(s.group));
      const channels = kept ?? Int32Array.from({ length: s.count }, (_, i) => i);
      for (const c of channels) for (let j = 0; j < block; j++) out.push(offset + c * block + j);
      offset += s.count * block;
    }
    return Int32Array.from(out);
  };
  const keptCount = (segments: readonly Segment[]) => segments.reduce((sum, s) => sum + (keep.get(analysis.root(s.group))?.length ?? s.count), 0);

  // Bias compensation: a removed input channel's mean times the consumer's weight goes into its bias.
  const overrides = new Map<string, Uint8Array>();
  const refits = grams ? refitConsumers(model, analysis, grams, keep, (name, _dims, data) => overrides.set(name, data), paired, cache) : [];
  const refitted = new Set(refits.map((r) => r.consumer));
  let compensated = 0;
  if (stats) {
    for (const consumer of analysis.consumers) {
      if (!changed(consumer.segments) || refitted.has(consumer)) continue;
      const delta = compensation(model, analysis, consumer, indices(consumer.segments, consumer.block), stats);
      if (!delta) continue;
      compensated++;
      if (consumer.bias) {
        const bias = readTensorFloat32(model, analysis.constants.get(consumer.bias)!.tensor);
        for (let m = 0; m < bias.length; m++) bias[m]! += delta[m]!;
        overrides.set(consumer.bias, encodeFloat32(bias, 'float32'));
      } else {
        const kept = consumer.output && changed(consumer.output) ? indices(consumer.output, 1) : undefined;
        const values = kept ? Float32Array.from(kept, (m) => delta[m]!) : Float32Array.from(delta);
        const name = uniqueName(model, `${consumer.weight}.bias`);
        addInitializer(model, name, [values.length], 1, encodeFloat32(values, 'float32'));
        appendNodeInput(consumer.node, name);
      }
    }
  }

  const byTensor = new Map<string, Array<{ axis: number; indices: Int32Array }>>();
  for (const slice of analysis.slices) {
    if (!changed(slice.segments)) continue;
    const list = byTensor.get(slice.tensor) ?? [];
    if (list.some((s) => s.axis === slice.axis)) throw new Error(`structured pruning: ${slice.tensor} is sliced twice along axis ${slice.axis}; this is a bug.`);
    list.push({ axis: slice.axis, indices: indices(slice.segments, slice.block) });
    byTensor.set(slice.tensor, list);
  }
  for (const [name, list] of byTensor) {
    const constant = analysis.constants.get(name)!;
    const size = dtypeOf(constant.tensor.dataType)!.bytes;
    let data = overrides.get(name) ?? readTensorBytes(model, constant.tensor);
    overrides.delete(name);
    let dims = [...constant.tensor.dims];
    for (const { axis, indices: keptIndices } of list) {
      data = sliceAxis(data, dims, axis, keptIndices, size);
      dims[axis] = keptIndices.length;
    }
    replaceConstantTensor(model, constant, dims, data);
    dims = [];
  }
  for (const [name, data] of overrides) replaceConstantTensor(model, analysis.constants.get(name)!, analysis.constants.get(name)!.tensor.dims, data);
  // Channel counts held in integer constants and ints attributes: every entry of one target is set, then it is written once.
  // A constant shared with other nodes is not changed: the node gets an edited copy as its own input.
  const edited = new Map<string, { entries: Map<number, number>; edit: ShapeEdit }>();
  const copied = new Set<string>();
  for (const edit of analysis.shapeEdits) {
    if (!edit.always && !changed(edit.segments)) continue;
    const owner = edit.private ? `\u0000${edit.private.node.outputs[0]}\u0000${edit.private.input}` : '';
    const key = edit.tensor ? edit.tensor + owner : `${edit.attribute!.node.outputs[0]}\u0000${edit.attribute!.name}`;
    const target = edited.get(key) ?? { entries: new Map<number, number>(), edit };
    target.entries.set(edit.index, keptCount(edit.segments) * edit.block);
    edited.set(key, target);
  }
  for (const { entries, edit } of edited.values()) {
    if (edit.attribute) {
      const values = intsAttribute(edit.attribute.node, edit.attribute.name);
      for (const [index, value] of entries) values[index] = value;
      setIntsAttribute(edit.attribute.node, edit.attribute.name, values);
      continue;
    }
    const constant = analysis.constants.get(edit.tensor!)!;
    const data = readTensorBytes(model, constant.tensor).slice();
    const view = new DataView(data.buffer);
    for (const [index, value] of entries) {
      if (constant.tensor.dataType === 7) view.setBigInt64(8 * index, BigInt(value), true);
      else view.setInt32(4 * index, value, true);
    }
    if (edit.private) {
      const name = uniqueName(model, `${edit.tensor}.${edit.private.node.name || edit.private.node.outputs[0]}`);
      addInitializer(model, name, constant.tensor.dims, constant.tensor.dataType, data);
      setNodeInput(edit.private.node, edit.private.input, name);
      copied.add(edit.tensor!);
    } else replaceConstantTensor(model, constant, constant.tensor.dims, data);
  }
  // A shared initializer every user now has its own copy of goes (runtimes warn about unused initializers).
  const used = new Set([...model.graph.outputs, ...allInputs(model.graph)]);
  for (const name of copied) if (!used.has(name) && !model.graph.inputs.includes(name)) removeInitializer(model, name);
  for (const edit of analysis.groupEdits) if (changed(edit.segments)) setIntAttribute(edit.node, edit.attribute ?? 'group', keptCount(edit.segments));
  const stale = new Set<string>();
  for (const [name, segments] of analysis.tensors) if (changed(segments)) stale.add(name);
  // A sliced Constant node's output may have value_info too (shape inference records it inside bodies).
  for (const name of byTensor.keys()) stale.add(name);
  removeValueInfo(model, stale);
  return { compensated, refits };
}

/**
 * What the removed input features contributed on average, per output of the consumer: sum over removed
 * features f of mean_f x the weight's slice (a Conv's kernel summed), scaled for Gemm by alpha / beta. Exact
 * for a channel that is constant (away from a Conv's zero-padded borders). Undefined when the weight is not
 * float32, there are no statistics for the input, or the consumer is a MatMul (no bias to take it) or a
 * ConvTranspose (a strided one adds a different subset of its taps at each output position: no one bias is exact).
 */
function compensation(model: OnnxModel, analysis: ChannelAnalysis, consumer: ConsumerInfo, kept: Int32Array, stats: ChannelStats): Float64Array | undefined {
  const st = stats.get(consumer.input);
  const { tensor } = analysis.constants.get(consumer.weight)!;
  if (!st || consumer.kind === 'MatMul' || consumer.kind === 'ConvTranspose' || consumer.kind === 'Recurrent' || tensor.dataType !== 1 || st.mean.length !== tensor.dims[consumer.axis]) return undefined;
  if (consumer.bias) {
    const bias = analysis.constants.get(consumer.bias)!.tensor;
    if (bias.dataType !== 1 || bias.dims.length !== 1) return undefined;
  }
  const dims = tensor.dims;
  const w = readTensorFloat32(model, tensor);
  const features = dims[consumer.axis]!;
  const removed = new Uint8Array(features).fill(1);
  for (const f of kept) removed[f] = 0;
  // Weight as [outputs, features, inner] (Conv: [M, C, kernel]) or a 2-D Gemm weight with either axis as input.
  const outputs = consumer.kind === 'Conv' ? dims[0]! : dims[1 - consumer.axis]!;
  const inner = consumer.kind === 'Conv' ? dims.slice(2).reduce((a, b) => a * b, 1) : 1;
  const delta = new Float64Array(outputs);
  for (let m = 0; m < outputs; m++) {
    let sum = 0;
    for (let f = 0; f < features; f++) {
      if (!removed[f] || st.mean[f] === 0) continue;
      let wsum = 0;
      if (consumer.kind === 'Conv') for (let i = 0; i < inner; i++) wsum += w[(m * features + f) * inner + i]!;
      else wsum = consumer.axis === 0 ? w[f * outputs + m]! : w[m * features + f]!;
      sum += wsum * st.mean[f]!;
    }
    delta[m] = sum;
  }
  if (consumer.kind === 'Gemm') {
    const scale = attributeFloat(consumer.node, 'alpha', 1) / attributeFloat(consumer.node, 'beta', 1);
    if (!Number.isFinite(scale)) return undefined;
    for (let m = 0; m < outputs; m++) delta[m]! *= scale;
  }
  return delta;
}

/** Every tensor name a graph's nodes read, its subgraphs' included (outer-scope uses). */
function allInputs(graph: GraphInfo): string[] {
  return graph.nodes.flatMap((n) => [...n.inputs, ...n.attributes.flatMap((a) => a.graphs.flatMap((g) => [...allInputs(g), ...g.outputs]))]);
}

/** A name no graph of the model defines or reads (bodies included: a new main-graph initializer is in their scope). */
function uniqueName(model: OnnxModel, base: string): string {
  const taken = new Set<string>();
  const visit = (g: GraphInfo) => {
    for (const name of [...g.inputs, ...g.outputs, ...g.initializers.map((t) => t.name)]) taken.add(name);
    for (const node of g.nodes) {
      for (const name of [...node.inputs, ...node.outputs]) taken.add(name);
      node.attributes.forEach((a) => a.graphs.forEach(visit));
    }
  };
  visit(model.graph);
  let name = base;
  for (let k = 1; taken.has(name); k++) name = `${base}${k}`;
  return name;
}

/** sliceAxis's short rows: `row` elements of each kept index, element by element (one array type per call). */
function copyRows<T extends Int32Array | Uint8Array>(from: T, to: T, outer: number, length: number, indices: Int32Array, row: number): void {
  let at = 0;
  for (let o = 0; o < outer; o++) {
    const base = o * length;
    for (let i = 0; i < indices.length; i++) {
      const start = (base + indices[i]!) * row;
      for (let j = 0; j < row; j++) to[at + j] = from[start + j]!;
      at += row;
    }
  }
}

/** Rows shorter than this are copied element by element in sliceAxis. */
const SHORT_ROW_BYTES = 256;

/**
 * Keeps `indices` along `axis` of a row-major tensor of `dims` with `size`-byte elements. Short rows (a 1x1
 * convolution's input channels are 4 bytes each) are copied element by element: a view per row cost more than
 * its copy (13.6 s of a ResNet-50-shaped `--flops 0.6` prune went to making them).
 */
export function sliceAxis(data: Uint8Array, dims: readonly number[], axis: number, indices: Int32Array, size: number): Uint8Array {
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1) * size;
  const length = dims[axis]!;
  const out = new Uint8Array(outer * indices.length * inner);
  if (inner >= SHORT_ROW_BYTES) {
    let at = 0;
    for (let o = 0; o < outer; o++) {
      for (const k of indices) {
        const from = (o * length + k) * inner;
        out.set(data.subarray(from, from + inner), at);
        at += inner;
      }
    }
    return out;
  }
  // Whole 4-byte words when the rows and the source are aligned to them, bytes otherwise.
  if (inner % 4 === 0 && data.byteOffset % 4 === 0) {
    copyRows(new Int32Array(data.buffer, data.byteOffset, (outer * length * inner) / 4), new Int32Array(out.buffer), outer, length, indices, inner / 4);
  } else {
    copyRows(data, out, outer, length, indices, inner);
  }
  return out;
}
