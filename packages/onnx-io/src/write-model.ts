import { closeSync, openSync, renameSync, statSync, unlinkSync, writevSync, type Stats } from 'node:fs';
import path from 'node:path';
import { dtypeCode, dtypeOf, type FloatDTypeName } from './dtypes.js';
import {
  constantAttribute,
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
import { byteLength, lenField, type MessageNode, type RenderContext } from './message.js';
import type { GraphInfo, OnnxModel, SparseTensorInfo, TensorInfo } from './model.js';
import { describeFileKind, isSameFile, releaseTempPath, tempPathNear } from './node-files.js';
import { GraphField, ModelField, NodeField, StringStringField, TensorField } from './onnx-fields.js';
import { encodeFloat32, readTensorBytes } from './tensor-data.js';
import { readString } from './wire.js';
import { parseModel } from './read-model.js';

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

const rewritten = new WeakMap<OnnxModel, Set<object>>();

function markRewritten(model: OnnxModel, key: object): void {
  let set = rewritten.get(model);
  if (!set) rewritten.set(model, (set = new Set()));
  set.add(key);
}

/** Every field of a TensorProto except its data, verbatim (name, dims, doc_string, unknown fields...). */
function tensorHeaderVerbatim(message: MessageNode): Uint8Array[] {
  return message.fields.filter((f) => !DATA_FIELDS.has(f.no)).map((f) => message.bytes.subarray(f.start, f.end));
}

export type Storage = 'dense' | 'sparse';

/** How sparse storage is written (see SparseIndexMode; the default is what the ONNX spec allows). */
export interface StorageOptions {
  indices?: SparseIndexMode;
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
export function storageBytes(weight: WeightRef, nnz: number, options: StorageOptions = {}): { dense: number; sparse: number; indexType: IndexType } {
  const elementBytes = dtypeOf(dtypeCode(weight.dtype))!.bytes;
  const indexType = sparseIndexType(weight.numel, weight.storageGraph.path !== 'main', options.indices);
  const indexBytes = indexType === 'int16' ? 2 : indexType === 'int32' ? 4 : 8;
  // ~40 bytes of extra headers for the values and indices tensors.
  return { dense: weight.numel * elementBytes, sparse: nnz * (elementBytes + indexBytes) + 40, indexType };
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
  const unsupported = storage === 'sparse' ? sparseStorageUnsupported(model, weight) : undefined;
  if (unsupported) throw new OnnxInputError(`${model.path ?? 'the model'} cannot store weight ${weight.name} sparse: ${unsupported}; store it dense.`);
  const dense = encodeFloat32(values, weight.dtype);
  const s = weight.storage;
  const graph = weight.storageGraph.message;
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
  } else {
    s.node.message.replaceField(s.attribute.field, {
      render: (context) => lenField(NodeField.attribute, constantAttribute('sparse_value', (c) => sparse.render(c)).render(context)),
    });
    markRewritten(model, s.attribute);
  }
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

export interface WriteOptions {
  /** Write tensor data to `<output>.data` when the model would exceed this many bytes (default: protobuf's 2 GiB limit). */
  externalDataLimitBytes?: number;
  /** Allow replacing the model's own file and its external data files (`--in-place`); refused otherwise. */
  overwriteInput?: boolean;
  /** More files the write must not replace (what the command read besides the model: samples, budgets). */
  protect?: readonly string[];
}

export interface WriteResult {
  path: string;
  bytes: number;
  /** Set when tensor data was written to an external file beside the model. */
  externalData?: { path: string; bytes: number };
}

/** Serialises the model inline (no external data) into one buffer. */
export function serializeModel(model: OnnxModel): Uint8Array {
  const chunks = model.root.serialize();
  const out = new Uint8Array(byteLength(chunks));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/**
 * The model as one self-contained buffer for a runtime that is given bytes (onnxruntime's
 * `InferenceSession.create(bytes)` cannot find external data files): tensors stored as external data
 * are read and inlined. Fails with OnnxInputError when the inlined model would pass protobuf's 2 GiB limit.
 */
export function serializeForRuntime(model: OnnxModel): Uint8Array {
  const external = allTensors(model).filter((t) => t.external && !rewritten.get(model)?.has(t));
  if (external.length === 0) return serializeModel(model);
  const copy = parseModel(serializeModel(model), { label: model.path ?? 'the model', ...(model.dir ? { dir: model.dir } : {}) });
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
  return serializeModel(copy);
}

/**
 * Writes the model to `outPath` through a temporary file in the same folder, renamed into place
 * only when complete. A model that had external data, or that would pass the protobuf limit, is
 * written with its tensors in `<outPath>.data`. The model's input file is never touched.
 */
export function writeModel(model: OnnxModel, outPath: string, options: WriteOptions = {}): WriteResult {
  const staged = stageModel(model, outPath, options);
  commitStaged([staged]);
  return staged.result;
}

/** Files written to temporary paths beside their targets, not yet in place: commit renames them, discard removes them. */
export interface StagedWrite {
  result: WriteResult;
  /** The temporary file that becomes `result.path` (to measure it before committing). */
  tempPath: string;
  /**
   * A temporary model file onnxruntime can load before the commit (with external data, a copy of the
   * model naming the data file's temporary path), and that data file; both are removed by commit and discard.
   */
  loadable?: { model: string; data?: string };
  /** Renames every temporary file into place (the model's data file before the model). */
  commit(): void;
  /** Removes every temporary file; safe to call more than once and after a commit. */
  discard(): void;
}

/**
 * The first half of writeModel: serialises the model into temporary files next to `outPath` (and
 * `<outPath>.data`) without touching either. Refuses, before writing anything, a target that is a
 * folder or not a regular file, and a target that is the model's own file or one of its external data
 * files (compared by real path and inode) unless `overwriteInput`, or one of `options.protect`.
 */
export function stageModel(model: OnnxModel, outPath: string, options: WriteOptions = {}): StagedWrite {
  const limit = options.externalDataLimitBytes ?? PROTOBUF_LIMIT_BYTES;
  const tensors = allTensors(model);
  const hasExternal = tensors.some((t) => t.external);
  const inputs = [
    ...(options.overwriteInput ? [] : [...(model.path !== undefined ? [model.path] : []), ...new Set(tensors.flatMap((t) => (t.external ? [t.external.path] : [])))]),
    ...(options.protect ?? []),
  ];
  const dataPath = `${outPath}.data`;
  refuseUnsafeTarget(outPath, inputs);
  let chunks = hasExternal ? undefined : model.root.serialize();
  const dataName = path.basename(dataPath);
  let dataChunks: Uint8Array[] = [];
  const placed: Array<{ offset: number; length: number }> = [];
  if (!chunks || byteLength(chunks) > limit) {
    externalizeTensors(model);
    let offset = 0;
    dataChunks = [];
    const context: RenderContext = {
      externalize(data, wasExternal) {
        if (!wasExternal && data.byteLength < EXTERNAL_THRESHOLD_BYTES) return undefined;
        const padding = (4096 - (offset % 4096)) % 4096; // page-aligned, so readers can mmap
        if (padding) dataChunks.push(new Uint8Array(padding));
        offset += padding;
        const at = offset;
        dataChunks.push(data);
        offset += data.byteLength;
        placed.push({ offset: at, length: data.byteLength });
        return { location: dataName, offset: at, length: data.byteLength };
      },
    };
    chunks = model.root.serialize(context);
  }
  const result: WriteResult = { path: outPath, bytes: byteLength(chunks) };
  if (dataChunks.length) refuseUnsafeTarget(dataPath, inputs);
  const parts: StagedWrite[] = [];
  try {
    const data = dataChunks.length ? stageFile(dataPath, dataChunks) : undefined;
    if (data) parts.push(data);
    const main = stageFile(outPath, chunks);
    parts.push(main);
    let verify: string | undefined;
    if (data) {
      // The same model naming the data file's temporary name, so it can be loaded before anything is in place.
      let next = 0;
      const location = path.basename(data.tempPath);
      const replay: RenderContext = {
        externalize(bytes, wasExternal) {
          if (!wasExternal && bytes.byteLength < EXTERNAL_THRESHOLD_BYTES) return undefined;
          return { location, ...placed[next++]! };
        },
      };
      verify = writeTemp(outPath, model.root.serialize(replay));
      result.externalData = { path: dataPath, bytes: data.result.bytes };
    }
    return {
      result,
      tempPath: main.tempPath,
      loadable: verify ? { model: verify, data: data!.tempPath } : { model: main.tempPath },
      commit() {
        try {
          commitStaged(parts);
        } finally {
          if (verify) removeTemp(verify);
        }
      },
      discard() {
        for (const part of parts) part.discard();
        if (verify) removeTemp(verify);
      },
    };
  } catch (error) {
    for (const part of parts) part.discard();
    throw error;
  }
}

/** Writes `chunks` to a temporary file next to `target` (see StagedWrite); refuses a target that is a folder or a device. */
export function stageFile(target: string, chunks: readonly Uint8Array[]): StagedWrite {
  refuseUnsafeTarget(target, []);
  return stageTempFile(writeTemp(target, chunks), target);
}

/**
 * Renames staged files into place in order; when one fails, the ones not yet renamed are removed and
 * the error is thrown (those already renamed stay: a rename in the same folder fails only when the
 * folder changed under us).
 */
export function commitStaged(staged: readonly StagedWrite[]): void {
  let next = 0;
  try {
    for (; next < staged.length; next++) staged[next]!.commit();
  } catch (error) {
    for (const s of staged.slice(next)) s.discard();
    throw error;
  }
}

/** Takes a temporary file written by other means (see tempPathFor) as the staged content of `target`. */
export function stageTempFile(temp: string, target: string): StagedWrite {
  let done = false;
  return {
    result: { path: target, bytes: statSync(temp).size },
    tempPath: temp,
    loadable: { model: temp },
    commit() {
      if (done) return;
      refuseUnsafeTarget(target, []);
      try {
        renameSync(temp, target);
      } catch (error) {
        throw writeError(error, target);
      }
      done = true;
      releaseTempPath(temp);
    },
    discard() {
      if (done) return;
      done = true;
      removeTemp(temp);
    },
  };
}

/** Writes a whole file atomically: a temporary file in the same folder, renamed into place when complete. */
export function writeFileAtomic(target: string, chunks: readonly Uint8Array[]): void {
  const staged = stageFile(target, chunks);
  commitStaged([staged]);
}

/** A fresh hidden temporary path in `target`'s folder, so the final rename never crosses file systems (tracked: see removeTempFiles). */
export function tempPathFor(target: string): string {
  return tempPathNear(target);
}

/** Writes chunks to a fresh temporary file next to `target` and returns its path (removed on failure). */
export function writeTemp(target: string, chunks: readonly Uint8Array[]): string {
  const temp = tempPathFor(target);
  let fd: number;
  try {
    fd = openSync(temp, 'wx');
  } catch (error) {
    releaseTempPath(temp);
    throw writeError(error, target);
  }
  try {
    for (let i = 0; i < chunks.length; i += 512) {
      let batch = chunks.slice(i, i + 512).filter((c) => c.byteLength > 0);
      while (batch.length) {
        let written = writevSync(fd, batch as NodeJS.ArrayBufferView[]);
        // writev may write partially: drop what was written and continue.
        while (batch.length && written >= batch[0]!.byteLength) {
          written -= batch[0]!.byteLength;
          batch = batch.slice(1);
        }
        if (batch.length && written > 0) batch[0] = batch[0]!.subarray(written);
      }
    }
    closeSync(fd);
  } catch (error) {
    closeSync(fd);
    removeTemp(temp);
    throw writeError(error, target);
  }
  return temp;
}

function removeTemp(temp: string): void {
  try {
    unlinkSync(temp);
  } catch {
    // Already gone.
  }
  releaseTempPath(temp);
}

/** Refuses to replace a folder, a device or FIFO, or one of `inputs` (compared as files, not as strings). */
function refuseUnsafeTarget(target: string, inputs: readonly string[]): void {
  let stats: Stats | undefined;
  try {
    stats = statSync(target);
  } catch {
    stats = undefined;
  }
  if (stats && !stats.isFile()) {
    throw new OnnxInputError(`${target} is ${describeFileKind(stats)}, not a regular file; name a file to write.`);
  }
  const input = inputs.find((file) => isSameFile(target, file));
  if (input !== undefined) {
    throw new OnnxInputError(
      `${target} is ${path.resolve(input) === path.resolve(target) ? 'a file' : `the same file as ${input}, a file`} the model is read from; writing it would destroy an input, so choose another output path.`,
    );
  }
}

/** Turns a failed write into an error that names the file and the cause the user can fix (exit 2). */
function writeError(error: unknown, target: string): Error {
  const code = (error as NodeJS.ErrnoException).code;
  const causes: Record<string, string> = {
    ENOENT: `its folder ${path.dirname(path.resolve(target))} does not exist`,
    ENOTDIR: 'a part of its path is not a folder',
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    EROFS: 'the file system is read-only',
    ENOSPC: 'the disk is full',
    EDQUOT: 'the disk quota is exhausted',
    EISDIR: 'it is a folder',
    EEXIST: 'a file appeared at its temporary path',
  };
  const cause = code ? causes[code] : undefined;
  if (!cause) return error instanceof Error ? error : new Error(String(error));
  return new OnnxInputError(`cannot write ${target} (${cause}); choose another path or make room.`, { cause: error });
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
function externalizeTensors(model: OnnxModel): void {
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

export type { FloatDTypeName };
