import { OnnxInputError } from './errors.js';
import { parseFields, encodeLength, encodeTag, WireError, WireType, type WireField } from './wire.js';

/**
 * How deep messages may nest (the model is depth 0). Protobuf's own parsers (C++, used by onnxruntime,
 * and Python, used by the onnx package) refuse more than 100 by default, so a deeper model cannot be a
 * model anyone can load; refusing it also keeps every recursive walk over the model far from the stack limit.
 */
export const MAX_MESSAGE_DEPTH = 100;

/**
 * A protobuf message inside the model bytes, parsed only as far as its field boundaries, plus the
 * edits made to it. Serialising copies every unedited field verbatim (unknown fields included) and
 * re-encodes only the lengths of messages on the path to an edit.
 */
export class MessageNode {
  readonly fields: WireField[];
  private readonly children = new Map<WireField, MessageNode>();
  private readonly replaced = new Map<WireField, Replacement>();
  private readonly appended: Replacement[] = [];
  private dirty = false;
  /** Nesting depth: 0 for the model, 1 for its graph, ... */
  readonly depth: number;
  /**
   * How errors name the model (its file). Set on the root by parseModel and inherited, so a malformed
   * message found later, by whoever reads deeper than parseModel did, is still an OnnxInputError (exit 2)
   * naming the file, never an internal error.
   */
  label: string | undefined;

  constructor(
    readonly bytes: Uint8Array,
    readonly start: number,
    readonly end: number,
    readonly parent?: MessageNode,
  ) {
    this.depth = parent ? parent.depth + 1 : 0;
    this.label = parent?.label;
    if (this.depth > MAX_MESSAGE_DEPTH) throw new WireError(`messages nested more than ${MAX_MESSAGE_DEPTH} deep`, start);
    this.fields = parseFields(bytes, start, end);
  }

  /** Fields with number `no`, in wire order. */
  all(no: number): WireField[] {
    return this.fields.filter((f) => f.no === no);
  }

  /** The last occurrence of field `no` (protobuf's rule for singular fields). */
  last(no: number): WireField | undefined {
    for (let i = this.fields.length - 1; i >= 0; i--) if (this.fields[i]!.no === no) return this.fields[i];
    return undefined;
  }

  /** The sub-message stored in `field` (memoised, so edits to it are seen when this node is written). */
  child(field: WireField): MessageNode {
    let node = this.children.get(field);
    if (!node) {
      try {
        if (field.wireType !== WireType.LEN) throw new WireError(`field ${field.no} should be a message but has wire type ${field.wireType}`, field.start);
        node = new MessageNode(this.bytes, field.valueStart, field.end, this);
      } catch (error) {
        if (!(error instanceof WireError) || this.label === undefined) throw error;
        throw new OnnxInputError(`${this.label} is truncated or corrupt (protobuf: ${error.message} at byte ${error.offset}).`, { cause: error });
      }
      this.children.set(field, node);
    }
    return node;
  }

  /** Replaces one field (tag included) by encoded bytes or a renderer; `null` deletes it. */
  replaceField(field: WireField, encoded: Replacement): void {
    this.replaced.set(field, encoded);
    this.markDirty();
  }

  /** Adds an encoded field (tag included) after the existing ones. */
  appendField(encoded: Replacement): void {
    this.appended.push(encoded);
    this.markDirty();
  }

  get isDirty(): boolean {
    return this.dirty;
  }

  private markDirty(): void {
    for (let node: MessageNode | undefined = this; node && !node.dirty; node = node.parent) node.dirty = true;
  }

  /** Encoded payload of this message (without its own tag/length) as chunks that share the input buffer. */
  serialize(context: RenderContext = INLINE): Uint8Array[] {
    if (!this.dirty) return [this.bytes.subarray(this.start, this.end)];
    const out: Uint8Array[] = [];
    let runStart = -1;
    let runEnd = -1;
    const flush = () => {
      if (runStart >= 0) out.push(this.bytes.subarray(runStart, runEnd));
      runStart = -1;
    };
    for (const field of this.fields) {
      const replacement = this.replaced.get(field);
      const child = this.children.get(field);
      if (replacement !== undefined) {
        flush();
        if (replacement) out.push(...render(replacement, context));
      } else if (child?.isDirty) {
        flush();
        const payload = child.serialize(context);
        out.push(encodeTag(field.no, WireType.LEN), encodeLength(byteLength(payload)), ...payload);
      } else if (runStart >= 0 && runEnd === field.start) {
        runEnd = field.end;
      } else {
        flush();
        runStart = field.start;
        runEnd = field.end;
      }
    }
    flush();
    for (const chunks of this.appended) if (chunks) out.push(...render(chunks, context));
    return out;
  }
}

/**
 * Decides at write time where tensor data goes. `externalize` returns the sidecar location of the
 * data when it should leave the model file, or undefined to keep it inline.
 */
export interface RenderContext {
  /** `wasExternal`: the tensor was external in the input, so it stays external in external mode. */
  externalize(data: Uint8Array, wasExternal: boolean): { location: string; offset: number; length: number } | undefined;
}

export const INLINE: RenderContext = { externalize: () => undefined };

/** Encoded field bytes, nothing (delete), or a renderer called when the model is written. */
export type Replacement = Uint8Array[] | null | { render(context: RenderContext): Uint8Array[] };

function render(replacement: Exclude<Replacement, null>, context: RenderContext): Uint8Array[] {
  return Array.isArray(replacement) ? replacement : replacement.render(context);
}

export function byteLength(chunks: readonly Uint8Array[]): number {
  let total = 0;
  for (const chunk of chunks) total += chunk.byteLength;
  return total;
}

/** Encodes a LEN field (tag + length + payload chunks). */
export function lenField(no: number, payload: readonly Uint8Array[]): Uint8Array[] {
  return [encodeTag(no, WireType.LEN), encodeLength(byteLength(payload)), ...payload];
}
