import { dtypeOf } from './dtypes.js';
import { renderTensorPayload } from './encode.js';
import { OnnxInputError } from './errors.js';
import { byteLength, lenField, type MessageNode } from './message.js';
import type { GraphInfo, OnnxModel, SparseTensorInfo, TensorInfo } from './model.js';
import { TensorField } from './onnx-fields.js';
import { parseModel } from './parse-model.js';
import { readTensorBytes } from './tensor-data.js';

/** Protobuf cannot encode a message of 2 GiB or more; keep a margin for headers. */
export const PROTOBUF_LIMIT_BYTES = 2 ** 31 - 1;
/** Tensors at least this large go to the external data file when a model is written with external data. */
export const EXTERNAL_THRESHOLD_BYTES = 1024;

const DATA_FIELDS = new Set<number>([
  TensorField.floatData,
  TensorField.int32Data,
  TensorField.stringData,
  TensorField.int64Data,
  TensorField.rawData,
  TensorField.doubleData,
  TensorField.uint64Data,
  TensorField.externalData,
  TensorField.dataLocation,
]);

/** Per model, the tensors (and sparse tensors, attributes) whose data was replaced by a renderer. */
const rewritten = new WeakMap<OnnxModel, Set<object>>();

/** Records that `key`'s data was replaced (it is no longer read from the model's bytes or external data). */
export function markRewritten(model: OnnxModel, key: object): void {
  let set = rewritten.get(model);
  if (!set) rewritten.set(model, (set = new Set()));
  set.add(key);
}

/** Every field of a TensorProto except its data, verbatim (name, dims, doc_string, unknown fields...). */
export function tensorHeaderVerbatim(message: MessageNode): Uint8Array[] {
  return message.fields.filter((f) => !DATA_FIELDS.has(f.no)).map((f) => message.bytes.subarray(f.start, f.end));
}

/**
 * One buffer shared by the serialisations of short-lived models: bytes handed to a runtime that parses them and
 * keeps no reference (onnxruntime's `InferenceSession.create(bytes)`) and then dropped. A fresh buffer costs a
 * page fault per page on first touch: serialising a 102 MB model into fresh memory took about 265 ms on the
 * development VM, most of it faulting, against a few tens of ms into pages already touched.
 * What `take` returned is overwritten by the next call: never keep it, hand it on, or return it.
 */
export class SerializeBuffer {
  #bytes = new Uint8Array(0);

  /** The first `length` bytes of the buffer, grown (with an eighth to spare) when it is smaller. */
  take(length: number): Uint8Array {
    if (this.#bytes.byteLength < length) this.#bytes = new Uint8Array(length + Math.floor(length / 8));
    return this.#bytes.subarray(0, length);
  }
}

/**
 * Serialises the model inline (no external data) into one buffer: a fresh one, or `into`'s (a view that its next
 * use overwrites; see SerializeBuffer).
 */
export function serializeModel(model: OnnxModel, into?: SerializeBuffer): Uint8Array {
  const chunks = model.root.serialize();
  const length = byteLength(chunks);
  const out = into ? into.take(length) : new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/**
 * The model's own bytes when serialising it would give exactly them (nothing edited, no external data): a
 * view, not a copy; undefined otherwise. Whoever keeps them must not let dense writes rewrite them in
 * place (`ownsBytes`).
 */
export function unchangedModelBytes(model: OnnxModel): Uint8Array | undefined {
  const root = model.root;
  if (root.isDirty || root.start !== 0 || root.end !== model.bytes.byteLength) return undefined;
  if (allTensors(model).some((t) => t.external)) return undefined;
  return model.bytes;
}

/**
 * The model as one self-contained buffer for a runtime that is given bytes (onnxruntime's
 * `InferenceSession.create(bytes)` cannot find external data files): tensors stored as external data
 * are read and inlined (which needs a model read by the Node entry, see readExternalBytes). Fails with
 * OnnxInputError when the inlined model would pass protobuf's 2 GiB limit. `into`: as serializeModel's.
 */
export function serializeForRuntime(model: OnnxModel, into?: SerializeBuffer): Uint8Array {
  const external = allTensors(model).filter((t) => t.external && !rewritten.get(model)?.has(t));
  if (external.length === 0) return serializeModel(model, into);
  const copy = parseModel(serializeModel(model), {
    label: model.path ?? 'the model',
    ...(model.dir ? { dir: model.dir } : {}),
    ...(model.externalFiles ? { externalFiles: model.externalFiles } : {}),
  });
  let total = copy.bytes.byteLength;
  for (const tensor of allTensors(copy)) {
    if (!tensor.external) continue;
    const data = readTensorBytes(copy, tensor);
    total += data.byteLength;
    if (total > PROTOBUF_LIMIT_BYTES) {
      throw new OnnxInputError(`${model.path ?? 'the model'} is over 2 GiB with its external data inlined, too large to run from memory.`);
    }
    const header = tensorHeaderVerbatim(tensor.message);
    tensor.message.parent!.replaceField(tensor.field, { render: (context) => lenField(tensor.field.no, renderTensorPayload(header, data, context)) });
  }
  return serializeModel(copy, into);
}

/** Every TensorProto in the model (initializers, constants, sparse parts), all graphs. */
export function allTensors(model: OnnxModel): TensorInfo[] {
  const out: TensorInfo[] = [];
  const visitSparse = (s: SparseTensorInfo) => out.push(s.values, s.indices);
  const visit = (graph: GraphInfo) => {
    out.push(...graph.initializers);
    graph.sparseInitializers.forEach(visitSparse);
    for (const node of graph.nodes) {
      for (const attribute of node.attributes) {
        if (attribute.tensor) out.push(attribute.tensor);
        if (attribute.sparseTensor) visitSparse(attribute.sparseTensor);
        attribute.graphs.forEach(visit);
      }
    }
  };
  visit(model.graph);
  return out;
}

/** Gives every tensor not already rewritten a renderer, so the writer can move its data out of the file. */
export function externalizeTensors(model: OnnxModel): void {
  const done = rewritten.get(model) ?? new Set<object>();
  for (const tensor of allTensors(model)) {
    if (done.has(tensor) || !dtypeOf(tensor.dataType)) continue;
    const raw = tensor.message.last(TensorField.rawData);
    const size = raw ? raw.end - raw.valueStart : tensor.numel * dtypeOf(tensor.dataType)!.bytes;
    if (!tensor.external && size < EXTERNAL_THRESHOLD_BYTES) continue;
    const header = tensorHeaderVerbatim(tensor.message);
    const data = readTensorBytes(model, tensor);
    const wasExternal = !!tensor.external;
    tensor.message.parent!.replaceField(tensor.field, {
      render: (context) => lenField(tensor.field.no, renderTensorPayload(header, data, context, wasExternal)),
    });
    done.add(tensor);
  }
  rewritten.set(model, done);
}

