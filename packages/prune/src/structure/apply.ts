import { dtypeOf, readTensorBytes, removeValueInfo, replaceConstantTensor, setIntAttribute, type OnnxModel } from '@specprune/onnx-io';
import type { ChannelAnalysis, Segment } from './analyze.js';

/**
 * Removes channels from the model in place: every constant the analysis recorded is sliced along its
 * channel axes, Reshape shape constants and depthwise `group` attributes follow the kept counts, and
 * value_info entries of tensors whose channel count changed are dropped. `keep` maps a root group to the
 * indices of its kept channels (ascending); groups not in it keep all.
 */
export function applyChannelPruning(model: OnnxModel, analysis: ChannelAnalysis, keep: ReadonlyMap<number, Int32Array>): void {
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
    let data = readTensorBytes(model, constant.tensor);
    let dims = [...constant.tensor.dims];
    for (const { axis, indices: keptIndices } of list) {
      data = sliceAxis(data, dims, axis, keptIndices, size);
      dims[axis] = keptIndices.length;
    }
    replaceConstantTensor(model, constant, dims, data);
    dims = [];
  }
  for (const edit of analysis.shapeEdits) {
    if (!changed(edit.segments)) continue;
    const constant = analysis.constants.get(edit.tensor)!;
    const data = readTensorBytes(model, constant.tensor).slice();
    const view = new DataView(data.buffer);
    const value = keptCount(edit.segments) * edit.block;
    if (constant.tensor.dataType === 7) view.setBigInt64(8 * edit.index, BigInt(value), true);
    else view.setInt32(4 * edit.index, value, true);
    replaceConstantTensor(model, constant, constant.tensor.dims, data);
  }
  for (const edit of analysis.groupEdits) if (changed(edit.segments)) setIntAttribute(edit.node, 'group', keptCount(edit.segments));
  const stale = new Set<string>();
  for (const [name, segments] of analysis.tensors) if (changed(segments)) stale.add(name);
  removeValueInfo(model, stale);
}

/** Keeps `indices` along `axis` of a row-major tensor of `dims` with `size`-byte elements. */
export function sliceAxis(data: Uint8Array, dims: readonly number[], axis: number, indices: Int32Array, size: number): Uint8Array {
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1) * size;
  const length = dims[axis]!;
  const out = new Uint8Array(outer * indices.length * inner);
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
