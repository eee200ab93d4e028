import protobuf from 'protobufjs/minimal.js';
import Long from 'long';

protobuf.util.Long = Long;
protobuf.configure();

/** Protobuf wire types. */
export const WireType = { VARINT: 0, I64: 1, LEN: 2, SGROUP: 3, EGROUP: 4, I32: 5 } as const;

/**
 * One field occurrence in an encoded message, as byte offsets into the model's bytes.
 * `start` is where its tag begins; `valueStart`..`end` is the payload (for LEN fields, without the
 * length prefix). Keeping offsets instead of decoded values is what lets the writer copy every
 * field it does not change verbatim, including fields newer than our schema.
 */
export interface WireField {
  no: number;
  wireType: number;
  start: number;
  valueStart: number;
  end: number;
}

/**
 * The wire bytes are malformed at `offset`. Callers turn it into a message naming the file; `exitCode` 2
 * is the backstop for one that escapes (still the user's input, never an internal error).
 */
export class WireError extends Error {
  readonly exitCode = 2;
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = 'WireError';
  }
}

/**
 * Lists the fields of the message encoded in bytes[start, end). Validates tags, varints and lengths
 * (a length is decoded in full, so one that claims 4 GiB + n bytes never wraps to n); decodes nothing else.
 * Iterative, so no input can exhaust the stack.
 */
export function parseFields(bytes: Uint8Array, start: number, end: number): WireField[] {
  const fields: WireField[] = [];
  const cursor = { pos: start };
  while (cursor.pos < end) {
    const fieldStart = cursor.pos;
    const { no, wireType } = readTag(bytes, cursor, end);
    const valueStart = cursor.pos;
    let valueEnd: number;
    switch (wireType) {
      case WireType.VARINT:
        skipVarint(bytes, cursor, end);
        valueEnd = cursor.pos;
        break;
      case WireType.I64:
        valueEnd = valueStart + 8;
        break;
      case WireType.I32:
        valueEnd = valueStart + 4;
        break;
      case WireType.LEN: {
        const length = readVarint(bytes, cursor, end);
        const payloadStart = cursor.pos;
        if (length > end - payloadStart) throw new WireError(`a field of ${length} bytes runs past the end of its message`, fieldStart);
        fields.push({ no, wireType, start: fieldStart, valueStart: payloadStart, end: payloadStart + length });
        cursor.pos = payloadStart + length;
        continue;
      }
      case WireType.SGROUP:
        valueEnd = skipGroup(bytes, cursor, end, no);
        break;
      default:
        throw new WireError(`invalid wire type ${wireType}`, fieldStart);
    }
    if (valueEnd > end) throw new WireError('a field runs past the end of its message', fieldStart);
    fields.push({ no, wireType, start: fieldStart, valueStart, end: valueEnd });
    cursor.pos = valueEnd;
  }
  return fields;
}

/** The largest field number protobuf allows (2^29 - 1). */
const MAX_FIELD_NUMBER = 0x1fffffff;

function readTag(bytes: Uint8Array, cursor: { pos: number }, end: number): { no: number; wireType: number } {
  const at = cursor.pos;
  const tag = readVarint(bytes, cursor, end);
  const no = Math.floor(tag / 8);
  if (no === 0 || no > MAX_FIELD_NUMBER) throw new WireError(`invalid field number ${no}`, at);
  return { no, wireType: tag % 8 };
}

/**
 * Decodes one varint at cursor.pos, bounded by `end` and by protobuf's 10-byte limit. Values are exact
 * up to 2^53; anything larger (only hostile lengths and tags are read this way) is refused.
 */
export function readVarint(bytes: Uint8Array, cursor: { pos: number }, end: number): number {
  const at = cursor.pos;
  let value = 0;
  let scale = 1;
  for (let i = at; i < end && i - at < 10; i++) {
    const b = bytes[i]!;
    value += (b & 0x7f) * scale;
    scale *= 128;
    if ((b & 0x80) === 0) {
      cursor.pos = i + 1;
      if (!Number.isSafeInteger(value)) throw new WireError(`varint ${value} is too large`, at);
      return value;
    }
  }
  throw new WireError(end - at >= 10 ? 'overlong varint (more than 10 bytes)' : 'truncated varint', at);
}

/** Skips a varint value of any size up to 64 bits (int64 values may use all 10 bytes). */
function skipVarint(bytes: Uint8Array, cursor: { pos: number }, end: number): void {
  const at = cursor.pos;
  for (let i = at; i < end && i - at < 10; i++) {
    if ((bytes[i]! & 0x80) === 0) {
      cursor.pos = i + 1;
      return;
    }
  }
  throw new WireError(end - at >= 10 ? 'overlong varint (more than 10 bytes)' : 'truncated varint', at);
}

/** Skips a (deprecated) group, nested groups included, with an explicit stack instead of recursion. */
function skipGroup(bytes: Uint8Array, cursor: { pos: number }, end: number, groupNo: number): number {
  const open = [groupNo];
  while (open.length > 0) {
    if (cursor.pos >= end) throw new WireError('unterminated group', cursor.pos);
    const at = cursor.pos;
    const { no, wireType } = readTag(bytes, cursor, end);
    switch (wireType) {
      case WireType.EGROUP:
        if (no !== open.pop()) throw new WireError('mismatched end of group', at);
        break;
      case WireType.VARINT:
        skipVarint(bytes, cursor, end);
        break;
      case WireType.I64:
        cursor.pos += 8;
        break;
      case WireType.I32:
        cursor.pos += 4;
        break;
      case WireType.LEN: {
        const length = readVarint(bytes, cursor, end);
        if (length > end - cursor.pos) throw new WireError(`a field of ${length} bytes runs past the end of its message`, at);
        cursor.pos += length;
        break;
      }
      case WireType.SGROUP:
        open.push(no);
        break;
      default:
        throw new WireError(`invalid wire type ${wireType}`, at);
    }
    if (cursor.pos > end) throw new WireError('a field runs past the end of its message', at);
  }
  return cursor.pos;
}

/** Reads a varint field's value as a signed 64-bit BigInt (int64 semantics). */
export function readInt64(bytes: Uint8Array, field: WireField): bigint {
  let result = 0n;
  let shift = 0n;
  for (let i = field.valueStart; i < field.end; i++) {
    result |= BigInt(bytes[i]! & 0x7f) << shift;
    shift += 7n;
  }
  return BigInt.asIntN(64, result);
}

/** A varint field as a JS number; throws WireError when it does not fit in 2^53. */
export function readSafeInteger(bytes: Uint8Array, field: WireField): number {
  const value = readInt64(bytes, field);
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new WireError(`integer ${value} is too large`, field.start);
  }
  return Number(value);
}

/** Reads all int64 values of a repeated int64 field, packed or not. */
export function readRepeatedInt64(bytes: Uint8Array, fields: readonly WireField[]): bigint[] {
  const values: bigint[] = [];
  for (const field of fields) {
    if (field.wireType === WireType.VARINT) {
      values.push(readInt64(bytes, field));
    } else if (field.wireType === WireType.LEN) {
      let result = 0n;
      let shift = 0n;
      for (let i = field.valueStart; i < field.end; i++) {
        const b = bytes[i]!;
        result |= BigInt(b & 0x7f) << shift;
        shift += 7n;
        if ((b & 0x80) === 0) {
          values.push(BigInt.asIntN(64, result));
          result = 0n;
          shift = 0n;
        } else if (i === field.end - 1 || shift > 63n) {
          throw new WireError('truncated packed varint', i);
        }
      }
    } else {
      throw new WireError(`unexpected wire type ${field.wireType} for an int64 field`, field.start);
    }
  }
  return values;
}

const utf8 = new TextDecoder('utf-8');

export function readString(bytes: Uint8Array, field: WireField): string {
  if (field.wireType !== WireType.LEN) throw new WireError('expected a string', field.start);
  return utf8.decode(bytes.subarray(field.valueStart, field.end));
}

/** Writes a new message with protobufjs' Writer; used only for the parts we create or change. */
export function newWriter(): protobuf.Writer {
  return protobuf.Writer.create();
}

export function encodeVarint(value: number): Uint8Array {
  return protobuf.Writer.create().uint32(value).finish();
}

/** Encodes a varint of any non-negative size up to 2^53 (lengths of fields above 4 GiB). */
export function encodeLength(value: number): Uint8Array {
  if (value < 2 ** 32) return encodeVarint(value);
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Uint8Array.from(out);
}

export function encodeTag(no: number, wireType: number): Uint8Array {
  return encodeVarint((no << 3) | wireType);
}
