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

/** The wire bytes are malformed at `offset`. Callers turn it into a message naming the file. */
export class WireError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = 'WireError';
  }
}

/** Lists the fields of the message encoded in bytes[start, end). Validates lengths; decodes nothing else. */
export function parseFields(bytes: Uint8Array, start: number, end: number): WireField[] {
  const reader = protobuf.Reader.create(bytes);
  reader.pos = start;
  reader.len = end;
  const fields: WireField[] = [];
  while (reader.pos < end) {
    const fieldStart = reader.pos;
    const tag = readVarint32(reader, end, fieldStart);
    const no = tag >>> 3;
    const wireType = tag & 7;
    if (no === 0) throw new WireError('field number 0', fieldStart);
    const valueStart = reader.pos;
    let valueEnd: number;
    switch (wireType) {
      case WireType.VARINT:
        skipVarint(bytes, reader, end);
        valueEnd = reader.pos;
        break;
      case WireType.I64:
        valueEnd = valueStart + 8;
        break;
      case WireType.I32:
        valueEnd = valueStart + 4;
        break;
      case WireType.LEN: {
        const length = readVarint32(reader, end, valueStart);
        const payloadStart = reader.pos;
        valueEnd = payloadStart + length;
        if (valueEnd > end) throw new WireError(`a field of ${length} bytes runs past the end of its message`, fieldStart);
        fields.push({ no, wireType, start: fieldStart, valueStart: payloadStart, end: valueEnd });
        reader.pos = valueEnd;
        continue;
      }
      case WireType.SGROUP:
        valueEnd = skipGroup(bytes, reader, end, no);
        break;
      default:
        throw new WireError(`invalid wire type ${wireType}`, fieldStart);
    }
    if (valueEnd > end) throw new WireError('a field runs past the end of its message', fieldStart);
    fields.push({ no, wireType, start: fieldStart, valueStart, end: valueEnd });
    reader.pos = valueEnd;
  }
  if (reader.pos !== end) throw new WireError('a field runs past the end of its message', reader.pos);
  return fields;
}

function readVarint32(reader: protobuf.Reader, end: number, at: number): number {
  if (reader.pos >= end) throw new WireError('truncated varint', at);
  const pos = reader.pos;
  // Bound the scan ourselves: protobufjs would read past `end` into the enclosing message.
  let i = pos;
  while (i < end && i - pos < 10 && (reader.buf[i]! & 0x80) !== 0) i++;
  if (i >= end || i - pos >= 10) throw new WireError('truncated or overlong varint', at);
  return reader.uint32();
}

function skipVarint(bytes: Uint8Array, reader: protobuf.Reader, end: number): void {
  let i = reader.pos;
  const limit = Math.min(end, i + 10);
  while (i < limit && (bytes[i]! & 0x80) !== 0) i++;
  if (i >= limit) throw new WireError('truncated or overlong varint', reader.pos);
  reader.pos = i + 1;
}

function skipGroup(bytes: Uint8Array, reader: protobuf.Reader, end: number, groupNo: number): number {
  for (;;) {
    if (reader.pos >= end) throw new WireError('unterminated group', reader.pos);
    const at = reader.pos;
    const tag = readVarint32(reader, end, at);
    const wireType = tag & 7;
    if (wireType === WireType.EGROUP) {
      if (tag >>> 3 !== groupNo) throw new WireError('mismatched end of group', at);
      return reader.pos;
    }
    switch (wireType) {
      case WireType.VARINT:
        skipVarint(bytes, reader, end);
        break;
      case WireType.I64:
        reader.pos += 8;
        break;
      case WireType.I32:
        reader.pos += 4;
        break;
      case WireType.LEN:
        reader.pos += readVarint32(reader, end, at);
        break;
      case WireType.SGROUP:
        reader.pos = skipGroup(bytes, reader, end, tag >>> 3);
        break;
      default:
        throw new WireError(`invalid wire type ${wireType}`, at);
    }
    if (reader.pos > end) throw new WireError('a field runs past the end of its message', at);
  }
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
