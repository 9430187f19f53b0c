/**
 * @module client/e2ee/protobuf
 * The few protobuf wire types libsignal's messages use: varints (uint32, uint64 as
 * numbers below 2^53) and length-delimited bytes, plus fixed64 for one storage field.
 * Not cryptography: a reader and a writer of the encoding, so our messages are
 * byte-for-byte libsignal's (fields written in ascending field order, as prost does).
 */
import { concat, type Bytes } from './bytes.js';

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

export class ProtobufWriter {
  private readonly parts: Uint8Array[] = [];

  uint(field: number, value: number | undefined): this {
    if (value === undefined) return this;
    this.parts.push(varint(field * 8 + VARINT), varint(value));
    return this;
  }

  bytes(field: number, value: Uint8Array | undefined): this {
    if (value === undefined) return this;
    this.parts.push(varint(field * 8 + LENGTH_DELIMITED), varint(value.length), value);
    return this;
  }

  /** A fixed64 field (little-endian), for values below 2^53. */
  fixed64(field: number, value: number | undefined): this {
    if (value === undefined) return this;
    const out = new Uint8Array(8);
    new DataView(out.buffer).setBigUint64(0, BigInt(value), true);
    this.parts.push(varint(field * 8 + FIXED64), out);
    return this;
  }

  finish(): Bytes {
    return concat(...this.parts);
  }
}

function varint(value: number): Bytes {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`not a varint: ${value}`);
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Uint8Array.from(out);
}

/** The fields of one message: the last value of each field wins, as protobuf says. */
export interface ProtobufFields {
  uints: Map<number, number>;
  bytes: Map<number, Bytes>;
}

/** Parses a message; throws a RangeError on a malformed one. Unknown fields are skipped. */
export function readProtobuf(data: Uint8Array): ProtobufFields {
  const fields: ProtobufFields = { uints: new Map(), bytes: new Map() };
  let at = 0;
  const readVarint = (): number => {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (at >= data.length) throw new RangeError('truncated varint');
      const b = data[at++]!;
      result += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (!Number.isSafeInteger(result)) throw new RangeError('varint too large');
        return result;
      }
      scale *= 0x80;
    }
    throw new RangeError('varint too long');
  };
  while (at < data.length) {
    const key = readVarint();
    const field = Math.floor(key / 8);
    if (field === 0) throw new RangeError('field number 0');
    switch (key % 8) {
      case VARINT:
        fields.uints.set(field, readVarint());
        break;
      case LENGTH_DELIMITED: {
        const length = readVarint();
        if (at + length > data.length) throw new RangeError('truncated field');
        fields.bytes.set(field, data.slice(at, at + length));
        at += length;
        break;
      }
      case FIXED64: {
        if (at + 8 > data.length) throw new RangeError('truncated fixed64');
        const v = new DataView(data.buffer, data.byteOffset + at, 8).getBigUint64(0, true);
        if (v <= BigInt(Number.MAX_SAFE_INTEGER)) fields.uints.set(field, Number(v));
        at += 8;
        break;
      }
      case FIXED32:
        if (at + 4 > data.length) throw new RangeError('truncated fixed32');
        at += 4;
        break;
      default:
        throw new RangeError(`unsupported wire type ${key % 8}`);
    }
  }
  return fields;
}
