import { closeSync, copyFileSync, existsSync, fstatSync, openSync, readSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { OnnxInputError } from './errors.js';
import { MAX_MESSAGE_DEPTH } from './message.js';
import type { OnnxModel } from './model.js';
import { AttributeField, GraphField, ModelField, NodeField, SparseTensorField, TensorField } from './onnx-fields.js';
import { nodeExternalFiles } from './external-files.js';
import { parseModel } from './parse-model.js';
import { MODEL_FILE_WORDING } from './read-model.js';
import { openRegularFile } from './node-files.js';
import { parseFields, WireError, WireType } from './wire.js';
import { tempPathFor } from './write-model.js';

/** Payloads at least this large are left on disk by readModelHollow. */
export const HOLLOW_MIN_BYTES = 64 * 1024;
const WINDOW = 64 * 1024;

/**
 * Which fields of which message hold sub-messages we must walk to find tensors; every other LEN
 * field is loaded whole (it is structure: names, value_info, doc strings, unknown fields).
 */
const CHILDREN: Record<string, Record<number, string>> = {
  model: { [ModelField.graph]: 'graph' },
  graph: { [GraphField.node]: 'node', [GraphField.initializer]: 'tensor', [GraphField.sparseInitializer]: 'sparse' },
  node: { [NodeField.attribute]: 'attribute' },
  attribute: { [AttributeField.t]: 'tensor', [AttributeField.g]: 'graph', [AttributeField.graphs]: 'graph', [AttributeField.tensors]: 'tensor', [AttributeField.sparseTensor]: 'sparse' },
  sparse: { [SparseTensorField.values]: 'tensor', [SparseTensorField.indices]: 'tensor' },
  tensor: {},
};

/** A model whose large raw_data payloads were not read: they stay in the file at `holes`. */
export interface HollowModel {
  model: OnnxModel;
  /** File offsets [start, end) of the raw_data payloads that were skipped. */
  holes: Array<{ start: number; end: number }>;
  file: string;
}

/**
 * Reads an ONNX model's structure without reading its large tensor payloads (raw_data of at least
 * HOLLOW_MIN_BYTES): the buffer has the file's size but the skipped ranges are never touched, so they
 * cost no memory. Use it when the payloads are processed one at a time from the file (see
 * rewritePayloads), never to serialise the model: the holes read as zeros.
 */
export function readModelHollow(file: string): HollowModel {
  const { fd, stats } = openRegularFile(file, MODEL_FILE_WORDING(file));
  try {
    const size = stats.size;
    if (size === 0) throw new OnnxInputError(`${file} is empty (0 bytes); it is not an ONNX model.`);
    const bytes = new Uint8Array(size);
    const loaded = new Uint8Array(Math.ceil(size / WINDOW));
    const ensure = (start: number, end: number) => {
      for (let w = Math.floor(start / WINDOW); w * WINDOW < Math.min(end, size); w++) {
        if (loaded[w]) continue;
        const from = w * WINDOW;
        const length = Math.min(WINDOW, size - from);
        let done = 0;
        while (done < length) done += readSync(fd, bytes, from + done, length - done, from + done) || length;
        loaded[w] = 1;
      }
    };
    const holes: HollowModel['holes'] = [];
    // Field headers are at most 15 bytes (tag + length varints); load them, then decide per field.
    // `depth` bounds the recursion: past protobuf's nesting limit the rest is loaded whole and parseModel refuses it by name.
    const walk = (start: number, end: number, kind: string, depth: number) => {
      const children = CHILDREN[kind]!;
      let pos = start;
      while (pos < end) {
        ensure(pos, Math.min(end, pos + 16));
        // A group has no length prefix: its end is only found by reading it, so load the rest of the message.
        if ((bytes[pos]! & 7) === WireType.SGROUP) ensure(pos, end);
        const [field] = parseFields(bytes, pos, headerEnd(bytes, pos, end));
        if (!field) throw new WireError('truncated field', pos);
        const child = children[field.no];
        if (field.wireType === WireType.LEN && child && depth < MAX_MESSAGE_DEPTH) walk(field.valueStart, field.end, child, depth + 1);
        else if (kind === 'tensor' && field.no === TensorField.rawData && field.end - field.valueStart >= HOLLOW_MIN_BYTES) {
          holes.push({ start: field.valueStart, end: field.end });
        } else ensure(field.start, field.end);
        pos = field.end;
      }
    };
    try {
      walk(0, size, 'model', 0);
    } catch (error) {
      if (error instanceof WireError) throw new OnnxInputError(`${file} is truncated or corrupt (protobuf: ${error.message} at byte ${error.offset}).`);
      throw error;
    }
    const model = parseModel(bytes, { label: file, path: file, dir: path.dirname(path.resolve(file)), externalFiles: nodeExternalFiles });
    return { model, holes, file };
  } finally {
    closeSync(fd);
  }
}

/**
 * The end of the field that starts at `pos` as far as parseFields needs to see it: the whole field for
 * scalars, the header only (with the payload length) for LEN fields. Lets us parse one field header
 * without its payload being loaded.
 */
function headerEnd(bytes: Uint8Array, pos: number, end: number): number {
  let i = pos;
  while (i < end && bytes[i]! & 0x80) i++;
  const tagEnd = i + 1;
  if ((bytes[pos]! & 7) !== WireType.LEN) return Math.min(end, fieldEndGuess(bytes, pos, tagEnd, end));
  let j = tagEnd;
  let length = 0;
  let shift = 0;
  while (j < end) {
    const b = bytes[j]!;
    length += (b & 0x7f) * 2 ** shift;
    shift += 7;
    j++;
    if ((b & 0x80) === 0) break;
  }
  return Math.min(end, j + length);
}

function fieldEndGuess(bytes: Uint8Array, pos: number, tagEnd: number, end: number): number {
  switch (bytes[pos]! & 7) {
    case WireType.VARINT: {
      let i = tagEnd;
      while (i < end && bytes[i]! & 0x80) i++;
      return i + 1;
    }
    case WireType.I64:
      return tagEnd + 8;
    case WireType.I32:
      return tagEnd + 4;
    default:
      return end;
  }
}

/** One payload to rewrite in place: file range and a function that transforms its bytes (same length). */
export interface PayloadEdit {
  start: number;
  end: number;
  transform(payload: Uint8Array): void;
}

/**
 * Starts rewriting a copy of the hollow model's file: `tempPath` is a full copy in the target folder that
 * callers (possibly several threads, each with its own file descriptor) patch at payload offsets with
 * same-size data; `finish` appends encoded ModelProto fields (e.g. metadata_props) and renames the copy
 * into place; `abort` removes it. No length prefix changes, so same-size edits keep the file valid.
 */
export function startPayloadRewrite(hollow: HollowModel, outPath: string): {
  tempPath: string;
  finish(appendRoot: readonly Uint8Array[]): { bytes: number };
  abort(): void;
} {
  const tempPath = tempPathFor(outPath);
  copyFileSync(hollow.file, tempPath);
  const abort = () => {
    if (existsSync(tempPath)) unlinkSync(tempPath);
  };
  return {
    tempPath,
    abort,
    finish(appendRoot) {
      try {
        const output = openSync(tempPath, 'r+');
        let size: number;
        try {
          size = fstatSync(output).size;
          for (const chunk of appendRoot) {
            writeFully(output, chunk, size);
            size += chunk.byteLength;
          }
        } finally {
          closeSync(output);
        }
        renameSync(tempPath, outPath);
        return { bytes: size };
      } catch (error) {
        abort();
        throw error;
      }
    },
  };
}

/**
 * Writes `outPath` as a copy of the hollow model's file in which each edited payload is read into one
 * reused buffer, transformed and written back at the same offset, and `appendRoot` (encoded ModelProto
 * fields, e.g. metadata_props) is added at the end. Only valid for same-size edits.
 */
export function rewritePayloads(hollow: HollowModel, outPath: string, edits: readonly PayloadEdit[], appendRoot: readonly Uint8Array[]): { bytes: number } {
  const rewrite = startPayloadRewrite(hollow, outPath);
  try {
    const input = openSync(hollow.file, 'r');
    const output = openSync(rewrite.tempPath, 'r+');
    try {
      const largest = edits.reduce((m, e) => Math.max(m, e.end - e.start), 0);
      const scratch = new Uint8Array(largest);
      for (const edit of edits) {
        const payload = scratch.subarray(0, edit.end - edit.start);
        readFully(input, payload, edit.start);
        edit.transform(payload);
        writeFully(output, payload, edit.start);
      }
    } finally {
      closeSync(input);
      closeSync(output);
    }
  } catch (error) {
    rewrite.abort();
    throw error;
  }
  return rewrite.finish(appendRoot);
}

/** Reads a range of the hollow model's file (e.g. a skipped payload). */
export function readHollowPayload(hollow: HollowModel, start: number, end: number): Uint8Array {
  const fd = openSync(hollow.file, 'r');
  try {
    const out = new Uint8Array(end - start);
    readFully(fd, out, start);
    return out;
  } finally {
    closeSync(fd);
  }
}

export function readFully(fd: number, target: Uint8Array, position: number): void {
  let done = 0;
  while (done < target.byteLength) {
    const n = readSync(fd, target, done, target.byteLength - done, position + done);
    if (n === 0) throw new OnnxInputError(`the model file changed while it was being read (short read at byte ${position + done}).`);
    done += n;
  }
}

export function writeFully(fd: number, source: Uint8Array, position: number): void {
  let done = 0;
  while (done < source.byteLength) done += writeSync(fd, source, done, source.byteLength - done, position + done);
}
