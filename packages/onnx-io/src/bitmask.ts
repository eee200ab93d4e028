import { dtypeCode, dtypeOf, type FloatDTypeName } from './dtypes.js';
import { initializerField, intAttributeField, nodeField, stringAttributeField, type GraphFieldRenderer } from './encode.js';
import { OnnxInputError } from './errors.js';
import { byteLength, INLINE, lenField } from './message.js';
import type { GraphInfo, NodeInfo, OnnxModel, TensorInfo } from './model.js';
import { GraphField } from './onnx-fields.js';
import { intAttribute } from './matrix-view.js';
import { decodeFloat32, readTensorBytes } from './tensor-data.js';
import { dequantizeByScaleDims, int8ScaleDtype, type ValueForm } from './values.js';

const scaleDtype = int8ScaleDtype;

/**
 * Bitmask storage: a weight's nonzero values (plus one trailing zero) as `<name>__values` [nnz + 1] in the
 * weight's dtype, a packed mask `<name>__mask` uint8 [ceil(numel / 8)] (bit i of byte j = element 8j + i),
 * and a decode subgraph of standard operators whose last node outputs `<name>`, so consumers are untouched:
 *
 *   bits  = Slice(Reshape(BitShift(BitShift(Reshape(mask, [-1, 1]), [7, 6, ..., 0], LEFT), 7, RIGHT), [-1]), 0, numel)
 *   index = Where(Cast(bits, bool), CumSum(Cast(bits, int32), exclusive), nnz)   // nnz points at the trailing zero
 *   name  = Reshape(Gather(values, index), shape)
 *
 * Every input is an initializer, so onnxruntime folds the subgraph into one constant at session creation.
 * The trailing zero keeps every Gather index in range (also for an all-zero weight, whose values are [0]).
 * The bits are unpacked with uint8 shifts (the Slice only when numel is not a multiple of 8): folding 20
 * weights of 1000x1000 took 1.2 s this way against 2.0-3.5 s with int32 Div and Mod (onnxruntime-node 1.30,
 * 2-core development machine); earlier models with the Div/Mod decode are still recognised and read.
 */

/** CumSum (opset 11) is the newest operator the decode uses. */
export const BITMASK_MIN_OPSET = 11;
/** Initializers that are not graph inputs need IR version 4. */
const BITMASK_MIN_IR_VERSION = 4;

const VALUES = '__values';
const MASK = '__mask';
/** Prefix of the decode's own small initializers and node names/outputs. */
const PREFIX = '__bitmask';

/** The parts of a bitmask-stored weight in its graph. */
export interface BitmaskParts {
  /** Nonzero values (+ trailing zero) in the weight's dtype, or float16 / int8 (`--values`). */
  values: TensorInfo;
  mask: TensorInfo;
  /** int8 values: one scale per output channel, in the weight's dtype and shape with other axes of size 1. */
  scale?: TensorInfo;
  /** The dtype the decode gives (the weight's). */
  dtype: FloatDTypeName;
  /** The decode's small constant initializers (shape, numel, ...). */
  constants: TensorInfo[];
  nodes: NodeInfo[];
  dims: number[];
}

const BITMASK_DTYPES: readonly FloatDTypeName[] = ['float32', 'float16', 'float64'];

/**
 * Why `weight` of `model` cannot be stored as a bitmask, or undefined when it can. Only main-graph
 * initializers (or weights already stored so) are encoded; Constant nodes and If/Loop/Scan bodies keep
 * dense or sparse storage for now.
 */
export function bitmaskUnsupported(
  model: OnnxModel,
  weight: { name: string; dtype: FloatDTypeName; numel: number; graph: string; location: string; overridable?: boolean },
): string | undefined {
  const modelReason = bitmaskModelUnsupported(model);
  if (modelReason) return modelReason;
  if (weight.graph !== 'main' || (weight.location !== 'initializer' && weight.location !== 'bitmask' && weight.location !== 'quantized')) {
    return `weight ${weight.name} is not an initializer of the main graph (bitmask storage covers only those for now)`;
  }
  if (!BITMASK_DTYPES.includes(weight.dtype)) return `weight ${weight.name} is ${weight.dtype} and bitmask storage supports ${BITMASK_DTYPES.join(', ')}`;
  if (weight.overridable) return `weight ${weight.name} is also a graph input`;
  if (weight.numel >= 2 ** 31) return `weight ${weight.name} has 2^31 or more elements`;
  if (model.graph.outputs.includes(weight.name)) return `weight ${weight.name} is also a graph output`;
  if (weight.location === 'initializer') {
    const taken = (n: string) => n === weight.name + VALUES || n === weight.name + MASK || n.startsWith(weight.name + PREFIX);
    const clash = [...model.graph.initializers.map((t) => t.name), ...model.graph.inputs, ...model.graph.nodes.flatMap((n) => n.outputs)].find(taken);
    if (clash) return `the model already has a tensor named ${clash}`;
  }
  return undefined;
}

/** Why no weight of `model` can be stored as a bitmask (IR version, opset), or undefined. */
export function bitmaskModelUnsupported(model: OnnxModel): string | undefined {
  if (model.irVersion < BITMASK_MIN_IR_VERSION) return `its IR version is ${model.irVersion} and bitmask storage needs IR version ${BITMASK_MIN_IR_VERSION} or later`;
  const opset = model.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 0;
  if (opset < BITMASK_MIN_OPSET) return `the model imports opset ${opset} and the bitmask decode needs CumSum (opset ${BITMASK_MIN_OPSET})`;
  return undefined;
}

/**
 * Bytes bitmask storage adds to the model for `nnz` nonzeros: values + trailing zero, mask, and the decode's
 * nodes, constants and headers (rendered once per name and shape, so the figure is exact; about 1.4 kB).
 * `values` int8 adds one scale per output channel (`axis`).
 */
export function bitmaskBytes(name: string, dims: readonly number[], dtype: FloatDTypeName, nnz: number, values: ValueForm = 'float32', axis = 0): number {
  const numel = dims.reduce((a, b) => a * b, 1);
  const stored = storedDtype(dtype, values);
  const key = `${dtype}:${stored}:${values === 'int8' ? axis : ''}:${dims.join(',')}:${name}`;
  let overhead = overheads.get(key);
  if (overhead === undefined) {
    const scale = values === 'int8' ? { bytes: new Uint8Array(0), dims: dims.map((d, k) => (k === axis ? d : 1)) } : undefined;
    const empty = bitmaskFields(name, dims, dtype, { values: new Uint8Array(0), mask: new Uint8Array(0), nnz: 0 }, { stored, ...(scale ? { scale } : {}) });
    overhead = byteLength([...empty.initializers.flatMap((i) => i.render(INLINE)), ...empty.nodes.flat()]);
    if (overheads.size > 10_000) overheads.clear();
    overheads.set(key, overhead);
  }
  const scaleBytes = values === 'int8' ? (dims[axis] ?? 1) * dtypeOf(dtypeCode(scaleDtype(dtype)))!.bytes : 0;
  return (nnz + 1) * dtypeOf(dtypeCode(stored))!.bytes + Math.ceil(numel / 8) + scaleBytes + overhead;
}

/** The dtype the values of a `dtype` weight are stored in under `values`. */
export function storedDtype(dtype: FloatDTypeName, values: ValueForm): 'int8' | FloatDTypeName {
  return values === 'int8' ? 'int8' : values === 'float16' ? 'float16' : dtype;
}
const overheads = new Map<string, number>();

/**
 * The bitmask parts of the weight `name` if `node` is the last node of its decode: a Reshape named
 * `<name>__bitmask/reshape` (values in the weight's dtype), a Cast named `<name>__bitmask/cast_values`
 * (float16 values), a Mul named `<name>__bitmask/scale` (int8 values times per-channel scales) or, for a
 * float16 weight with int8 values, a Cast named `<name>__bitmask/cast_weight` after that Mul, in `graph`,
 * with the values, mask and shape initializers beside it.
 */
export function recogniseBitmask(model: OnnxModel, graph: GraphInfo, node: NodeInfo): BitmaskParts | undefined {
  const name = node.outputs[0];
  if (!name || graph.path !== 'main' || !node.name.startsWith(name + PREFIX + '/')) return undefined;
  const kind = node.name.slice(name.length + PREFIX.length + 1);
  if (!((kind === 'reshape' && node.opType === 'Reshape') || (kind === 'cast_values' && node.opType === 'Cast') || (kind === 'scale' && node.opType === 'Mul') || (kind === 'cast_weight' && node.opType === 'Cast'))) return undefined;
  const byName = (n: string) => graph.initializers.find((t) => t.name === n);
  const values = byName(name + VALUES);
  const mask = byName(name + MASK);
  const shape = byName(`${name}${PREFIX}_shape`);
  const scale = kind === 'scale' || kind === 'cast_weight' ? byName(`${name}${PREFIX}_scale`) : undefined;
  if (!values || !mask || !shape || shape.dataType !== dtypeCode('int64')) return undefined;
  if (shape.dims.length !== 1 || mask.dataType !== dtypeCode('uint8') || mask.dims.length !== 1) return undefined;
  const valuesType = dtypeOf(values.dataType);
  let dtype: FloatDTypeName | undefined;
  if (kind === 'reshape') dtype = valuesType?.isFloat ? (valuesType.name as FloatDTypeName) : undefined;
  else if (kind === 'cast_values') dtype = valuesType?.name === 'float16' ? castTarget(node) : undefined;
  else if (valuesType?.name === 'int8' && scale && dtypeOf(scale.dataType)?.isFloat) {
    const scaled = dtypeOf(scale.dataType)!.name as FloatDTypeName;
    dtype = kind === 'scale' ? scaled : castTarget(node);
    if (dtype && scaleDtype(dtype) !== scaled) dtype = undefined;
  }
  if (!dtype || !BITMASK_DTYPES.includes(dtype)) return undefined;
  const dims = Array.from(new BigInt64Array(new Uint8Array(readTensorBytes(model, shape)).buffer), Number);
  // Only a decode whose parts agree is a weight; anything else stays an ordinary node output.
  const numel = dims.reduce((a, b) => a * b, 1);
  if (dims.length < 1 || dims.some((d) => !Number.isSafeInteger(d) || d < 0) || !Number.isSafeInteger(numel) || mask.numel !== Math.ceil(numel / 8)) return undefined;
  if (scale && (scale.dims.length !== dims.length || scale.dims.filter((d, k) => d !== 1 || dims[k] === 1).length > 1 || scale.dims.some((d, k) => d !== 1 && d !== dims[k]))) return undefined;
  return {
    values,
    mask,
    ...(scale ? { scale } : {}),
    dtype,
    constants: graph.initializers.filter((t) => t.name.startsWith(name + PREFIX + '_')),
    nodes: graph.nodes.filter((n) => n.name.startsWith(name + PREFIX + '/')),
    dims,
  };
}

/** The dtype a Cast node converts to, if it is a float dtype bitmask storage decodes to. */
function castTarget(node: NodeInfo): FloatDTypeName | undefined {
  const to = dtypeOf(intAttribute(node, 'to', 0));
  return to?.isFloat ? (to.name as FloatDTypeName) : undefined;
}

/** The weight a bitmask decodes to, as float32 values (int8 values times their channel's scale, rounded to the weight's dtype). */
export function decodeBitmaskFloat32(model: OnnxModel, name: string, parts: BitmaskParts): Float32Array {
  const bytes = decodeBitmaskBytes(model, name, parts);
  const stored = dtypeOf(parts.values.dataType)!.name;
  if (stored !== 'int8') {
    // float16 values of a float32/float64 weight: the Cast back is exact.
    return decodeFloat32(bytes, stored as FloatDTypeName);
  }
  const scales = decodeFloat32(readTensorBytes(model, parts.scale!), dtypeOf(parts.scale!.dataType)!.name as FloatDTypeName);
  return dequantizeByScaleDims(new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), scales, parts.scale!.dims, parts.dims, parts.dtype);
}

/** The dense bytes (in the values' dtype) a bitmask weight decodes to; throws OnnxInputError when its parts disagree. */
export function decodeBitmaskBytes(model: OnnxModel, name: string, parts: BitmaskParts): Uint8Array {
  const numel = parts.dims.reduce((a, b) => a * b, 1);
  const size = dtypeOf(parts.values.dataType)?.bytes ?? 0;
  const mask = readTensorBytes(model, parts.mask);
  const values = readTensorBytes(model, parts.values);
  let nnz = 0;
  for (let i = 0; i < numel && mask.length === Math.ceil(numel / 8); i++) nnz += (mask[i >> 3]! >> (i & 7)) & 1;
  if (mask.length !== Math.ceil(numel / 8) || values.length !== (nnz + 1) * size) {
    throw new OnnxInputError(
      `${model.path ?? 'the model'}: bitmask weight ${name} has a mask of ${mask.length} bytes and ${values.length / (size || 1)} values; shape [${parts.dims.join(', ')}] needs ${Math.ceil(numel / 8)} mask bytes and one value per set bit plus a trailing zero.`,
    );
  }
  const out = new Uint8Array(numel * size);
  let k = 0;
  for (let i = 0; i < numel; i++) {
    if ((mask[i >> 3]! >> (i & 7)) & 1) {
      out.set(values.subarray(k * size, k * size + size), i * size);
      k++;
    }
  }
  return out;
}

/** Values (nonzeros + trailing zero) and packed mask of dense bytes; nonzero tested on the encoded bytes. */
export function encodeBitmask(dense: Uint8Array, numel: number, size: number): { values: Uint8Array; mask: Uint8Array; nnz: number } {
  const mask = new Uint8Array(Math.ceil(numel / 8));
  const view = new DataView(dense.buffer, dense.byteOffset, dense.byteLength);
  let nnz = 0;
  for (let i = 0; i < numel; i++) {
    let nonzero: boolean;
    if (size === 4) nonzero = (view.getUint32(4 * i, true) & 0x7fffffff) !== 0;
    else if (size === 2) nonzero = (view.getUint16(2 * i, true) & 0x7fff) !== 0;
    else if (size === 1) nonzero = dense[i] !== 0;
    else nonzero = ((view.getUint32(8 * i + 4, true) & 0x7fffffff) | view.getUint32(8 * i, true)) !== 0;
    if (nonzero) {
      mask[i >> 3]! |= 1 << (i & 7);
      nnz++;
    }
  }
  const values = new Uint8Array((nnz + 1) * size);
  let k = 0;
  for (let i = 0; i < numel; i++) {
    if ((mask[i >> 3]! >> (i & 7)) & 1) values.set(dense.subarray(i * size, i * size + size), size * k++);
  }
  return { values, mask, nnz };
}

type Renderer = GraphFieldRenderer;

/** The initializers (as GraphProto fields) and nodes (NodeProto fields) that store and decode one weight. */
export function bitmaskFields(
  name: string,
  dims: readonly number[],
  dtype: FloatDTypeName,
  encoded: { values: Uint8Array; mask: Uint8Array; nnz: number },
  form: { stored?: 'int8' | FloatDTypeName; scale?: { bytes: Uint8Array; dims: readonly number[] } } = {},
): { initializers: Renderer[]; nodes: Uint8Array[][] } {
  const stored = form.stored ?? dtype;
  const numel = dims.reduce((a, b) => a * b, 1);
  const p = (s: string) => `${name}${PREFIX}_${s}`;
  const t = (s: string) => `${name}${PREFIX}/${s}`;
  const int64s = (values: number[]) => new Uint8Array(BigInt64Array.from(values, BigInt).buffer);
  const int32s = (values: number[]) => new Uint8Array(Int32Array.from(values).buffer);
  const tensor = initializerField;
  const I64 = dtypeCode('int64');
  const I32 = dtypeCode('int32');
  const U8 = dtypeCode('uint8');
  // The mask's last byte has bits past numel only when numel is not a multiple of 8.
  const padded = numel % 8 !== 0;
  const initializers = [
    tensor(name + VALUES, [encoded.nnz + 1], dtypeCode(stored), encoded.values),
    ...(form.scale ? [tensor(p('scale'), form.scale.dims, dtypeCode(scaleDtype(dtype)), form.scale.bytes)] : []),
    tensor(name + MASK, [encoded.mask.length], dtypeCode('uint8'), encoded.mask),
    tensor(p('column'), [2], I64, int64s([-1, 1])),
    tensor(p('left'), [8], U8, Uint8Array.from([7, 6, 5, 4, 3, 2, 1, 0])),
    tensor(p('right'), [], U8, Uint8Array.from([7])),
    tensor(p('flat'), [1], I64, int64s([-1])),
    ...(padded ? [tensor(p('start'), [1], I64, int64s([0])), tensor(p('numel'), [1], I64, int64s([numel]))] : []),
    tensor(p('axis'), [], I32, int32s([0])),
    tensor(p('nnz'), [], I32, int32s([encoded.nnz])),
    tensor(p('shape'), [dims.length], I64, int64s([...dims])),
  ];
  const intAttribute = intAttributeField;
  const directionAttribute = (value: string) => stringAttributeField('direction', value);
  const node = (op: string, inputs: string[], output: string, attributes: Uint8Array[][] = [], nodeName = t(op.toLowerCase())) => nodeField(op, inputs, output, nodeName, attributes);
  const nodes = [
    node('Reshape', [name + MASK, p('column')], t('column'), [], t('reshape_column')),
    node('BitShift', [t('column'), p('left')], t('shifted'), [directionAttribute('LEFT')], t('shift_left')),
    node('BitShift', [t('shifted'), p('right')], t('bit_matrix'), [directionAttribute('RIGHT')], t('shift_right')),
    node('Reshape', [t('bit_matrix'), p('flat')], padded ? t('padded_bits') : t('bits'), [], t('reshape_flat')),
    ...(padded ? [node('Slice', [t('padded_bits'), p('start'), p('numel')], t('bits'))] : []),
    node('Cast', [t('bits')], t('kept'), [intAttribute('to', dtypeCode('bool'))], t('cast_kept')),
    node('Cast', [t('bits')], t('bits32'), [intAttribute('to', I32)], t('cast_bits')),
    node('CumSum', [t('bits32'), p('axis')], t('position'), [intAttribute('exclusive', 1)]),
    node('Where', [t('kept'), t('position'), p('nnz')], t('index')),
    node('Gather', [name + VALUES, t('index')], t('dense'), [intAttribute('axis', 0)]),
    // Values stored in the weight's dtype end here; float16 values are cast back, int8 ones scaled.
    node('Reshape', [t('dense'), p('shape')], stored === dtype ? name : t('stored'), [], t('reshape')),
    ...(stored === dtype
      ? []
      : stored === 'int8'
        ? [
            node('Cast', [t('stored')], t('unscaled'), [intAttribute('to', dtypeCode(scaleDtype(dtype)))], t('cast_values')),
            node('Mul', [t('unscaled'), p('scale')], scaleDtype(dtype) === dtype ? name : t('scaled'), [], t('scale')),
            ...(scaleDtype(dtype) === dtype ? [] : [node('Cast', [t('scaled')], name, [intAttribute('to', dtypeCode(dtype))], t('cast_weight'))]),
          ]
        : [node('Cast', [t('stored')], name, [intAttribute('to', dtypeCode(dtype))], t('cast_values'))]),
  ];
  return { initializers, nodes };
}

/**
 * Nodes to put before the first node of a graph (so the decode precedes every consumer, as ONNX's
 * topological order requires), kept per graph so several weights and removals of the first node combine.
 */
const prepended = new WeakMap<GraphInfo, { nodes: Uint8Array[][]; dropFirst: boolean }>();
const removed = new WeakSet<NodeInfo>();

export function prependNodes(graph: GraphInfo, nodes: Uint8Array[][]): void {
  const first = graph.nodes[0];
  if (!first) {
    for (const n of nodes) graph.message.appendField(n);
    return;
  }
  let state = prepended.get(graph);
  if (!state) {
    const created = { nodes: [] as Uint8Array[][], dropFirst: removed.has(first) };
    state = created;
    prepended.set(graph, created);
    graph.message.replaceField(first.field, {
      render: (context) => {
        const own = created.dropFirst ? [] : lenField(GraphField.node, first.message.serialize(context));
        return [...created.nodes.flat(), ...own];
      },
    });
  }
  state.nodes.push(...nodes);
}

/** Removes a node of the graph (cooperating with prependNodes when it is the first one). */
export function removeNode(graph: GraphInfo, node: NodeInfo): void {
  const state = prepended.get(graph);
  removed.add(node);
  if (state && node === graph.nodes[0]) state.dropFirst = true;
  else graph.message.replaceField(node.field, null);
}
