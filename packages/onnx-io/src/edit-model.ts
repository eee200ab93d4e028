import { bitmaskBytes, bitmaskFields, bitmaskUnsupported, encodeBitmask, prependNodes, removeNode, storedDtype } from './bitmask.js';
import { dtypeCode, dtypeOf } from './dtypes.js';
import {
  constantAttribute,
  constantNodeField,
  initializerField,
  encodeIndices,
  renderTensorPayload,
  sparseIndexType,
  sparseTensorPayload,
  stringEntry,
  stringField,
  tensorHeader,
  SPARSE_MIN_IR_VERSION,
  type IndexType,
  type SparseIndexMode,
} from './encode.js';
import { OnnxInputError } from './errors.js';
import type { WeightRef } from './find-weights.js';
import { lenField, type RenderContext } from './message.js';
import type { GraphInfo, OnnxModel } from './model.js';
import { GraphField, ModelField, NodeField, StringStringField, TensorField } from './onnx-fields.js';
import { markRewritten, tensorHeaderVerbatim } from './serialize.js';
import { encodeFloat32 } from './tensor-data.js';
import { quantizedBytes, quantizedFields, quantizedUnsupported } from './quantized.js';
import { channelAxis, int8ScaleDtype, lowersPrecision, quantizeInt8, type ValueForm } from './values.js';
import { readString } from './wire.js';

export type Storage = 'dense' | 'sparse' | 'bitmask';

/** How sparse storage is written (see SparseIndexMode; the default is what the ONNX spec allows). */
export interface StorageOptions {
  indices?: SparseIndexMode;
  /**
   * Precision of the stored values under bitmask storage (default `float32`: the weight's own dtype); float16
   * or int8 (per-channel scales) are decoded back to the weight's dtype in the model (see values.ts).
   */
  values?: ValueForm;
}

/** Constant takes a `sparse_value` attribute from opset 11 of the default domain on. */
export const CONSTANT_SPARSE_MIN_OPSET = 11;

/**
 * Why `model` (or, given, `weight` in it) cannot be stored sparse, or undefined when it can:
 * sparse_initializer and sparse_value came with IR version 6 (onnxruntime refuses them in older models),
 * and a Constant node's `sparse_value` with opset 11 (the checker rejects it before).
 */
export function sparseStorageUnsupported(model: OnnxModel, weight?: WeightRef): string | undefined {
  if (model.irVersion < SPARSE_MIN_IR_VERSION) return `its IR version is ${model.irVersion} and sparse tensors need IR version ${SPARSE_MIN_IR_VERSION} or later`;
  if (weight?.storage.kind === 'constant') {
    const opset = model.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 0;
    if (opset < CONSTANT_SPARSE_MIN_OPSET) return `weight ${weight.name} lives in a Constant node, which takes a sparse value from opset ${CONSTANT_SPARSE_MIN_OPSET} on, and the model imports opset ${opset}`;
  }
  return undefined;
}

/**
 * A writable float32 view of a dense weight's raw_data inside the model's own (private) bytes, so a
 * large weight can be pruned in place without a copy; undefined when the weight is stored otherwise
 * (typed fields, external, sparse, other dtype), or its bytes are unaligned or not ours.
 */
export function denseFloat32View(model: OnnxModel, weight: WeightRef): Float32Array | undefined {
  const s = weight.storage;
  const tensor = s.kind === 'initializer' ? s.tensor : s.kind === 'constant' ? s.tensor : undefined;
  if (!tensor || !model.ownsBytes || tensor.external || weight.dtype !== 'float32') return undefined;
  const raw = tensor.message.last(TensorField.rawData);
  if (!raw || raw.end - raw.valueStart !== weight.numel * 4) return undefined;
  const offset = model.bytes.byteOffset + raw.valueStart;
  if (offset % 4 !== 0) return undefined;
  return new Float32Array(model.bytes.buffer, offset, weight.numel);
}

/** Bytes the weight's data takes in each storage form, for `--storage auto`. */
export function storageBytes(weight: WeightRef, nnz: number, options: StorageOptions = {}): { dense: number; sparse: number; bitmask: number; indexType: IndexType } {
  const elementBytes = dtypeOf(dtypeCode(weight.dtype))!.bytes;
  const indexType = sparseIndexType(weight.numel, weight.storageGraph.path !== 'main', options.indices);
  const indexBytes = indexType === 'int16' ? 2 : indexType === 'int32' ? 4 : 8;
  const values = options.values ?? 'float32';
  // ~40 bytes of extra headers for the values and indices tensors.
  // Lower-precision values apply to float32/float64 weights, and int8 also to float16 ones.
  const lower = lowersPrecision(values, weight.dtype);
  return {
    dense: lower ? quantizedBytes(weight.name, weight.shape, weight.dtype, values, channelAxis(weight)) : weight.numel * elementBytes,
    sparse: nnz * (elementBytes + indexBytes) + 40,
    bitmask: bitmaskBytes(weight.name, weight.shape, weight.dtype, nnz, values, values === 'int8' ? channelAxis(weight) : 0),
    indexType,
  };
}

/**
 * Replaces a weight's values in place, stored dense (TensorProto) or sparse (SparseTensorProto:
 * sparse_initializer, or `sparse_value` for a Constant node). Names, position and all other fields
 * of the model are kept; values are encoded in the weight's own dtype.
 */
export function updateWeight(model: OnnxModel, weight: WeightRef, values: Float32Array, storage: Storage, options: StorageOptions = {}): void {
  if (values.length !== weight.numel) {
    throw new RangeError(`weight ${weight.name} has ${weight.numel} elements; got ${values.length} values`);
  }
  const form = options.values ?? 'float32';
  if (form !== 'float32' && storage === 'sparse') throw new RangeError(`weight ${weight.name}: ${form} values need dense or bitmask storage`);
  const unsupported =
    storage === 'sparse' ? sparseStorageUnsupported(model, weight) : storage === 'bitmask' ? bitmaskUnsupported(model, weight) : quantizedUnsupported(model, weight, form);
  if (unsupported) throw new OnnxInputError(`${model.path ?? 'the model'} cannot store weight ${weight.name} ${storage === 'bitmask' ? 'as a bitmask' : storage === 'sparse' ? 'sparse' : `with ${form} values`}: ${unsupported}; store it dense.`);
  const dense = encodeFloat32(values, weight.dtype);
  const s = weight.storage;
  const graph = weight.storageGraph.message;
  if (s.kind === 'quantized' || (storage === 'dense' && form !== 'float32')) {
    replaceStorage(model, weight, values, dense, storage, options);
    return;
  }
  if (storage === 'bitmask' || s.kind === 'bitmask') {
    updateBitmaskStorage(model, weight, values, dense, storage, options);
    return;
  }
  if (storage === 'dense') {
    if (s.kind === 'initializer' || (s.kind === 'constant' && s.tensor)) {
      const tensor = s.kind === 'initializer' ? s.tensor : s.tensor!;
      const raw = tensor.message.last(TensorField.rawData);
      if (model.ownsBytes && raw && !tensor.external && raw.end - raw.valueStart === dense.byteLength) {
        // Same size, same place: overwrite our private copy of the bytes; nothing else changes.
        model.bytes.set(dense, raw.valueStart);
        return;
      }
      const header = tensorHeaderVerbatim(tensor.message);
      tensor.message.parent!.replaceField(tensor.field, {
        render: (context) => lenField(tensor.field.no, renderTensorPayload(header, dense, context, !!tensor.external)),
      });
      markRewritten(model, tensor);
    } else if (s.kind === 'sparse_initializer') {
      graph.replaceField(s.sparse.field, null);
      const header = tensorHeader(weight.name, weight.shape, dtypeCode(weight.dtype));
      graph.appendField({ render: (context) => lenField(GraphField.initializer, renderTensorPayload(header, dense, context)) });
      markRewritten(model, s.sparse);
    } else if (s.kind === 'constant') {
      const header = tensorHeader(weight.name, weight.shape, dtypeCode(weight.dtype));
      s.node.message.replaceField(s.attribute.field, {
        render: (context) =>
          lenField(NodeField.attribute, constantAttribute('value', (c) => renderTensorPayload(header, dense, c)).render(context)),
      });
      markRewritten(model, s.attribute);
    }
    return;
  }
  const sparse = toSparse(dense, weight, options.indices);
  if (s.kind === 'initializer') {
    graph.replaceField(s.tensor.field, null);
    graph.appendField({ render: (context) => lenField(GraphField.sparseInitializer, sparse.render(context)) });
    markRewritten(model, s.tensor);
  } else if (s.kind === 'sparse_initializer') {
    graph.replaceField(s.sparse.field, { render: (context) => lenField(GraphField.sparseInitializer, sparse.render(context)) });
    markRewritten(model, s.sparse);
  } else if (s.kind === 'constant') {
    s.node.message.replaceField(s.attribute.field, {
      render: (context) => lenField(NodeField.attribute, constantAttribute('sparse_value', (c) => sparse.render(c)).render(context)),
    });
    markRewritten(model, s.attribute);
  }
}

/**
 * Writes a weight whose storage changes form (to or from dense with lower-precision values): its current
 * parts are removed and the new ones added to its graph. A weight that lived in a Constant node (or whose
 * parts did) keeps its values in Constant nodes, so opset-9 exporters' models stay as they were made.
 */
function replaceStorage(model: OnnxModel, weight: WeightRef, floats: Float32Array, dense: Uint8Array, storage: Storage, options: StorageOptions): void {
  const s = weight.storage;
  const graphInfo = weight.storageGraph;
  const graph = graphInfo.message;
  let asConstant = false;
  if (s.kind === 'quantized') {
    for (const tensor of s.parts.initializers) {
      graph.replaceField(tensor.field, null);
      markRewritten(model, tensor);
    }
    for (const node of s.parts.nodes) removeNode(graphInfo, node);
    asConstant = s.parts.initializers.length === 0;
  } else if (s.kind === 'constant') {
    removeNode(graphInfo, s.node);
    asConstant = true;
  } else if (s.kind === 'bitmask') {
    for (const tensor of [s.parts.values, s.parts.mask, ...s.parts.constants]) {
      graph.replaceField(tensor.field, null);
      markRewritten(model, tensor);
    }
    for (const node of s.parts.nodes) removeNode(graphInfo, node);
  } else {
    const tensor = s.kind === 'initializer' ? s.tensor : s.sparse;
    graph.replaceField(tensor.field, null);
    markRewritten(model, tensor);
  }
  const form = options.values ?? 'float32';
  if (storage === 'bitmask') {
    addBitmask(graphInfo, weight, floats, dense, form);
  } else if (storage === 'dense' && form !== 'float32') {
    const fields = quantizedFields(weight.name, weight.shape, weight.dtype, form, floats, channelAxis(weight), asConstant);
    for (const initializer of fields.initializers) graph.appendField(initializer);
    prependNodes(graphInfo, fields.nodes);
  } else if (storage === 'dense') {
    if (asConstant) prependNodes(graphInfo, [constantNodeField(weight.name, `${weight.name}__value`, weight.shape, dtypeCode(weight.dtype), dense)]);
    else graph.appendField(initializerField(weight.name, weight.shape, dtypeCode(weight.dtype), dense));
  } else {
    const sparse = toSparse(dense, weight, options.indices);
    graph.appendField({ render: (context) => lenField(GraphField.sparseInitializer, sparse.render(context)) });
  }
}

/** Writes a weight that is or becomes bitmask-stored: its old storage (and decode) is removed, the new one added. */
function updateBitmaskStorage(model: OnnxModel, weight: WeightRef, floats: Float32Array, dense: Uint8Array, storage: Storage, options: StorageOptions): void {
  const s = weight.storage;
  const graphInfo = weight.storageGraph;
  const graph = graphInfo.message;
  if (s.kind === 'bitmask') {
    for (const tensor of [s.parts.values, s.parts.mask, ...s.parts.constants]) {
      graph.replaceField(tensor.field, null);
      markRewritten(model, tensor);
    }
    for (const node of s.parts.nodes) removeNode(graphInfo, node);
  } else if (s.kind === 'initializer') {
    graph.replaceField(s.tensor.field, null);
    markRewritten(model, s.tensor);
  } else {
    throw new OnnxInputError(`${model.path ?? 'the model'} cannot store weight ${weight.name} as a bitmask: it is not an initializer of the main graph; store it dense.`);
  }
  if (storage === 'bitmask') {
    addBitmask(graphInfo, weight, floats, dense, options.values ?? 'float32');
  } else if (storage === 'dense') {
    const header = tensorHeader(weight.name, weight.shape, dtypeCode(weight.dtype));
    graph.appendField({ render: (context) => lenField(GraphField.initializer, renderTensorPayload(header, dense, context)) });
  } else {
    const sparse = toSparse(dense, weight, options.indices);
    graph.appendField({ render: (context) => lenField(GraphField.sparseInitializer, sparse.render(context)) });
  }
}

/** Adds a weight's bitmask parts (values in `form`) to its graph; the decode goes before the graph's first node. */
function addBitmask(graphInfo: GraphInfo, weight: WeightRef, floats: Float32Array, dense: Uint8Array, form: ValueForm): void {
  const stored = storedDtype(weight.dtype, form);
  let bytes = dense;
  let scale: { bytes: Uint8Array; dims: number[] } | undefined;
  if (stored === 'int8') {
    const quantized = quantizeInt8(floats, weight.shape, channelAxis(weight), weight.dtype);
    bytes = new Uint8Array(quantized.q.buffer);
    scale = { bytes: encodeFloat32(quantized.scales, int8ScaleDtype(weight.dtype)), dims: quantized.scaleDims };
  } else if (stored !== weight.dtype) bytes = encodeFloat32(floats, stored);
  const size = dtypeOf(dtypeCode(stored))!.bytes;
  const fields = bitmaskFields(weight.name, weight.shape, weight.dtype, encodeBitmask(bytes, weight.numel, size), { stored, ...(scale ? { scale } : {}) });
  for (const initializer of fields.initializers) graphInfo.message.appendField(initializer);
  prependNodes(graphInfo, fields.nodes);
}

function toSparse(dense: Uint8Array, weight: WeightRef, indices: SparseIndexMode | undefined): { render(context: RenderContext): Uint8Array[] } {
  const size = dtypeOf(dtypeCode(weight.dtype))!.bytes;
  const n = weight.numel;
  const positions: number[] = [];
  // Nonzero test on the encoded bytes, so a value that rounds to zero in float16 is not stored.
  const view = new DataView(dense.buffer, dense.byteOffset, dense.byteLength);
  for (let i = 0; i < n; i++) {
    let nonzero: boolean;
    if (size === 4) nonzero = (view.getUint32(4 * i, true) & 0x7fffffff) !== 0;
    else if (size === 2) nonzero = (view.getUint16(2 * i, true) & 0x7fff) !== 0;
    else nonzero = ((view.getUint32(8 * i + 4, true) & 0x7fffffff) | view.getUint32(8 * i, true)) !== 0;
    if (nonzero) positions.push(i);
  }
  const values = new Uint8Array(positions.length * size);
  for (let k = 0; k < positions.length; k++) values.set(dense.subarray(positions[k]! * size, positions[k]! * size + size), k * size);
  const indexType = sparseIndexType(n, weight.storageGraph.path !== 'main', indices);
  return sparseTensorPayload(weight.name, weight.shape, weight.dtype, values, positions.length, encodeIndices(positions, indexType), indexType);
}

/** Sets metadata_props entries (replacing entries with the same key, appending new ones). */
export function setMetadata(model: OnnxModel, entries: Record<string, string>): void {
  const pending = new Map(Object.entries(entries));
  for (const field of model.root.all(ModelField.metadataProps)) {
    const entry = model.root.child(field);
    const keyField = entry.last(StringStringField.key);
    const key = keyField ? readString(model.bytes, keyField) : '';
    if (pending.has(key)) {
      model.root.replaceField(field, stringEntry(ModelField.metadataProps, key, pending.get(key)!));
      pending.delete(key);
    }
  }
  for (const [key, value] of pending) model.root.appendField(stringEntry(ModelField.metadataProps, key, value));
}

/**
 * Declares more outputs of the main graph (for reading intermediate tensors, e.g. the inputs of every
 * weight-consuming node during calibration). Outputs are declared by name only; onnxruntime infers their
 * types. Names that already are outputs are skipped. Meant for a temporary copy, never for a written model.
 */
export function addGraphOutputs(model: OnnxModel, names: readonly string[]): void {
  const existing = new Set(model.graph.outputs);
  for (const name of names) {
    if (existing.has(name)) continue;
    existing.add(name);
    model.graph.message.appendField(lenField(GraphField.output, stringField(1, name)));
  }
}

