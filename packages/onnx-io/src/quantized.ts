import { dtypeCode, dtypeOf, type FloatDTypeName } from './dtypes.js';
import { constantNodeField, initializerField, intAttributeField, nodeField, type GraphFieldRenderer } from './encode.js';
import type { GraphInfo, NodeInfo, OnnxModel, TensorInfo } from './model.js';
import { intAttribute } from './matrix-view.js';
import { decodeFloat32, encodeFloat32, readTensorBytes } from './tensor-data.js';
import { dequantizeByScaleDims, int8ScaleDtype, quantizeInt8, type ValueForm } from './values.js';

/**
 * Dense storage with lower-precision values (`--values float16|int8` on a dense-stored weight): the whole
 * weight as `<name>__q` (float16, or int8 with one scale per output channel in `<name>__q_scale`), and a decode
 * of standard operators (opset 7+) whose last node outputs `<name>`, so consumers are untouched:
 *
 *   float16 values:  name = Cast(q, to = dtype)
 *   int8 values:     name = Mul(Cast(q, to = float), scale)            (float32 and float64 weights: in their dtype)
 *                    name = Cast(Mul(Cast(q, to = float32), scale), to = float16)   (float16 weights)
 *
 * The stored tensors are initializers when the weight was one, and Constant nodes when it lived in a Constant
 * node (opset-9 exporters such as paddle2onnx keep every weight there). Every input is a constant, so onnxruntime
 * folds the decode at session creation. {@link roundTripValues} gives exactly what the decode computes.
 */

const Q = '__q';
const QUANTIZED_DTYPES: readonly FloatDTypeName[] = ['float32', 'float16', 'float64'];
/** Cast (opset 6) and Mul with broadcasting (opset 7). */
export const QUANTIZED_MIN_OPSET = 7;

/** The parts of a weight stored with lower-precision values, in its graph. */
export interface QuantizedParts {
  /** int8 or float16 values in the weight's shape. */
  stored: TensorInfo;
  /** int8: the per-channel scales (float32 for float16 weights, else the weight's dtype). */
  scale?: TensorInfo;
  /** The parts that are initializers (removed when the weight is written again). */
  initializers: TensorInfo[];
  /** The decode nodes and any Constant nodes holding the parts. */
  nodes: NodeInfo[];
  dtype: FloatDTypeName;
  dims: number[];
}

/** Why `weight` cannot be stored dense with `form` values, or undefined when it can. */
export function quantizedUnsupported(
  model: OnnxModel,
  weight: { name: string; dtype: FloatDTypeName; storageGraph: GraphInfo; location: string; overridable?: boolean },
  form: ValueForm,
): string | undefined {
  if (form === 'float32') return undefined;
  const opset = model.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 0;
  if (opset < QUANTIZED_MIN_OPSET) return `the model imports opset ${opset} and the values decode needs Mul with broadcasting (opset ${QUANTIZED_MIN_OPSET})`;
  if (model.irVersion < 4) return `its IR version is ${model.irVersion} and initializers that are not graph inputs need IR version 4`;
  if (!QUANTIZED_DTYPES.includes(weight.dtype)) return `weight ${weight.name} is ${weight.dtype} and lower-precision values support ${QUANTIZED_DTYPES.join(', ')}`;
  if (form === 'float16' && weight.dtype === 'float16') return `weight ${weight.name} is float16 already`;
  if (weight.overridable) return `weight ${weight.name} is also a graph input`;
  const graph = weight.storageGraph;
  if (graph.outputs.includes(weight.name)) return `weight ${weight.name} is also a graph output`;
  if (weight.location !== 'quantized') {
    const taken = (n: string) => n === weight.name + Q || n.startsWith(weight.name + Q + '_') || n.startsWith(weight.name + Q + '/');
    const clash = [...graph.initializers.map((t) => t.name), ...graph.inputs, ...graph.nodes.flatMap((n) => n.outputs)].find(taken);
    if (clash) return `the model already has a tensor named ${clash}`;
  }
  return undefined;
}

/** Bytes the weight takes stored dense with `form` values: values + int8 scales + the decode (a few hundred bytes). */
export function quantizedBytes(name: string, dims: readonly number[], dtype: FloatDTypeName, form: ValueForm, axis: number): number {
  const numel = dims.reduce((a, b) => a * b, 1);
  const valueBytes = form === 'int8' ? 1 : 2;
  const scaleBytes = form === 'int8' ? (dims[axis] ?? 1) * dtypeOf(dtypeCode(int8ScaleDtype(dtype)))!.bytes : 0;
  // Names and headers of the stored tensors and 1-3 decode nodes.
  return numel * valueBytes + scaleBytes + 8 * name.length + 160;
}

/** The fields that store and decode `floats` (the weight's values in float32) with `form` values. */
export function quantizedFields(
  name: string,
  dims: readonly number[],
  dtype: FloatDTypeName,
  form: 'float16' | 'int8',
  floats: Float32Array,
  axis: number,
  asConstants: boolean,
): { initializers: GraphFieldRenderer[]; nodes: Uint8Array[][] } {
  const stored = name + Q;
  const scaleName = `${name}${Q}_scale`;
  const t = (s: string) => `${name}${Q}/${s}`;
  const parts: Array<{ name: string; dims: readonly number[]; type: number; data: Uint8Array; node: string }> = [];
  const nodes: Uint8Array[][] = [];
  if (form === 'float16') {
    parts.push({ name: stored, dims, type: dtypeCode('float16'), data: encodeFloat32(floats, 'float16'), node: t('stored') });
    nodes.push(nodeField('Cast', [stored], name, t('cast'), [intAttributeField('to', dtypeCode(dtype))]));
  } else {
    const scaled = int8ScaleDtype(dtype);
    const { q, scales, scaleDims } = quantizeInt8(floats, dims, axis, dtype);
    parts.push({ name: stored, dims, type: dtypeCode('int8'), data: new Uint8Array(q.buffer), node: t('stored') });
    parts.push({ name: scaleName, dims: scaleDims, type: dtypeCode(scaled), data: encodeFloat32(scales, scaled), node: t('scale_value') });
    nodes.push(nodeField('Cast', [stored], t('unscaled'), t('cast'), [intAttributeField('to', dtypeCode(scaled))]));
    nodes.push(nodeField('Mul', [t('unscaled'), scaleName], scaled === dtype ? name : t('scaled'), t('scale')));
    if (scaled !== dtype) nodes.push(nodeField('Cast', [t('scaled')], name, t('cast_weight'), [intAttributeField('to', dtypeCode(dtype))]));
  }
  if (asConstants) return { initializers: [], nodes: [...parts.map((p) => constantNodeField(p.name, p.node, p.dims, p.type, p.data)), ...nodes] };
  return { initializers: parts.map((p) => initializerField(p.name, p.dims, p.type, p.data)), nodes };
}

/**
 * The parts of the weight `name` if `node` is the last node of its values decode (a Cast named `<name>__q/cast`,
 * a Mul named `<name>__q/scale` or a Cast named `<name>__q/cast_weight`) in `graph`, with its stored tensors as
 * initializers or Constant nodes of that graph.
 */
export function recogniseQuantized(graph: GraphInfo, node: NodeInfo): QuantizedParts | undefined {
  const name = node.outputs[0];
  if (!name || !node.name.startsWith(name + Q + '/')) return undefined;
  const kind = node.name.slice(name.length + Q.length + 1);
  if (!((kind === 'cast' && node.opType === 'Cast') || (kind === 'scale' && node.opType === 'Mul') || (kind === 'cast_weight' && node.opType === 'Cast'))) return undefined;
  const find = (tensorName: string, constantName: string): { tensor: TensorInfo; node?: NodeInfo } | undefined => {
    const initializer = graph.initializers.find((t) => t.name === tensorName);
    if (initializer) return { tensor: initializer };
    const constant = graph.nodes.find((n) => n.opType === 'Constant' && n.name === constantName && n.outputs[0] === tensorName);
    const tensor = constant?.attributes.find((a) => a.name === 'value')?.tensor;
    return tensor && constant ? { tensor, node: constant } : undefined;
  };
  const stored = find(name + Q, `${name}${Q}/stored`);
  if (!stored) return undefined;
  const storedType = dtypeOf(stored.tensor.dataType)?.name;
  const scale = kind === 'cast' ? undefined : find(`${name}${Q}_scale`, `${name}${Q}/scale_value`);
  let dtype: FloatDTypeName | undefined;
  if (kind === 'cast') dtype = storedType === 'float16' ? floatTarget(node) : undefined;
  else if (storedType === 'int8' && scale && dtypeOf(scale.tensor.dataType)?.isFloat) {
    const scaled = dtypeOf(scale.tensor.dataType)!.name as FloatDTypeName;
    dtype = kind === 'scale' ? scaled : floatTarget(node);
    if (dtype && int8ScaleDtype(dtype) !== scaled) dtype = undefined;
  }
  if (!dtype || !QUANTIZED_DTYPES.includes(dtype)) return undefined;
  const dims = stored.tensor.dims;
  if (scale && (scale.tensor.dims.length !== dims.length || scale.tensor.dims.filter((d) => d !== 1).length > 1 || scale.tensor.dims.some((d, k) => d !== 1 && d !== dims[k]))) return undefined;
  const own = [stored, ...(scale ? [scale] : [])];
  return {
    stored: stored.tensor,
    ...(scale ? { scale: scale.tensor } : {}),
    initializers: own.filter((p) => !p.node).map((p) => p.tensor),
    nodes: [...own.flatMap((p) => (p.node ? [p.node] : [])), ...graph.nodes.filter((n) => n.name.startsWith(name + Q + '/') && n.opType !== 'Constant')],
    dtype,
    dims,
  };
}

function floatTarget(node: NodeInfo): FloatDTypeName | undefined {
  const to = dtypeOf(intAttribute(node, 'to', 0));
  return to?.isFloat ? (to.name as FloatDTypeName) : undefined;
}

/** The weight the decode gives, as float32 values. */
export function decodeQuantizedFloat32(model: OnnxModel, parts: QuantizedParts): Float32Array {
  const bytes = readTensorBytes(model, parts.stored);
  if (dtypeOf(parts.stored.dataType)!.name === 'float16') return decodeFloat32(bytes, 'float16');
  const scales = decodeFloat32(readTensorBytes(model, parts.scale!), dtypeOf(parts.scale!.dataType)!.name as FloatDTypeName);
  return dequantizeByScaleDims(new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), scales, parts.scale!.dims, parts.dims, parts.dtype);
}
